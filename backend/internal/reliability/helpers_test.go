package reliability

import "bytes"

// contains reports whether a response body contains s.
func contains(body []byte, s string) bool { return bytes.Contains(body, []byte(s)) }
