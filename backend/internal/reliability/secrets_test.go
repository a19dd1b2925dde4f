package reliability

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
)

// secrets collects every value that must never reach a log line: tokens,
// authorization codes, states, client and session secrets, cookie values
// and session ids.
type secrets struct {
	mu   sync.Mutex
	vals map[string]string // value → kind
}

func newSecrets() *secrets { return &secrets{vals: map[string]string{}} }

// minSecretLen: shorter values (empty, placeholders) are not secrets and
// would match by accident.
const minSecretLen = 16

func (s *secrets) add(kind, v string) {
	if len(v) < minSecretLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.vals[v]; !ok {
		s.vals[v] = kind
	}
}

func (s *secrets) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.vals)
}

// needles are what to look for: each value, and for long ones a 20-byte
// piece of their tail too (a truncated token is still a leak; the tail of
// a JWT is its signature, unique to it).
func (s *secrets) needles() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, 2*len(s.vals))
	for v, kind := range s.vals {
		out[v] = kind
		if len(v) >= 40 {
			out[v[len(v)-24:len(v)-4]] = kind + " (fragment)"
		}
	}
	return out
}

// scanLogs fails t for every secret found in any of the files.
func scanLogs(t *testing.T, s *secrets, files []string) {
	t.Helper()
	leaks, summary := findLeaks(s, files)
	for _, l := range leaks {
		t.Error(l)
	}
	t.Log(summary)
}

// findLeaks reports, for each file, the secrets found in it — naming the
// file, the kind of secret and the line, never the value (at most five per
// file, then a count).
func findLeaks(s *secrets, files []string) (leaks []string, summary string) {
	needles := s.needles()
	keys := make([]string, 0, len(needles))
	for k := range needles {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	total, lines := 0, 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			leaks = append(leaks, "secret scan: "+err.Error())
			continue
		}
		total += len(b)
		lines += bytes.Count(b, []byte("\n"))
		text := string(b)
		found := 0
		for _, k := range keys {
			i := strings.Index(text, k)
			if i < 0 {
				continue
			}
			found++
			if found <= 5 {
				line := strings.Count(text[:i], "\n") + 1
				leaks = append(leaks, fmt.Sprintf("SECRET IN LOG: a %s appears in %s line %d", needles[k], f, line))
			}
		}
		if found > 5 {
			leaks = append(leaks, fmt.Sprintf("SECRET IN LOG: %d secrets in all in %s", found, f))
		}
	}
	summary = fmt.Sprintf("secret scan: %d secrets (%d needles) checked against %d log lines (%d bytes) in %d files",
		s.count(), len(needles), lines, total, len(files))
	return leaks, summary
}

// sessionIDFromCookie extracts the session id from a session cookie value
// signed by gorilla/securecookie: base64url("date|base64url(json id)|mac").
func sessionIDFromCookie(v string) (string, bool) {
	raw, err := base64.URLEncoding.DecodeString(v)
	if err != nil {
		return "", false
	}
	parts := bytes.SplitN(raw, []byte("|"), 3)
	if len(parts) != 3 {
		return "", false
	}
	js, err := base64.URLEncoding.DecodeString(string(parts[1]))
	if err != nil {
		return "", false
	}
	var id string
	if json.Unmarshal(js, &id) != nil || id == "" {
		return "", false
	}
	return id, true
}
