package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// ReplyError is an error reply (-ERR ...) of a Redis command sent by Do.
type ReplyError string

func (e ReplyError) Error() string { return string(e) }

// Do sends one command to addr on a fresh connection and returns its reply:
// a string for simple and bulk strings, an int64 for integers, nil for a
// null, []any for arrays, and a ReplyError for an error reply. It is a
// minimal RESP2 client for test set-up (CLIENT KILL, SENTINEL, CLUSTER,
// WAIT, ...), independent of the client under test.
func Do(addr string, args ...string) (any, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return nil, err
	}
	return readReply(bufio.NewReader(c))
}

// DoString is Do for commands whose reply is a string.
func DoString(addr string, args ...string) (string, error) {
	v, err := Do(addr, args...)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: reply %v is not a string", args[0], v)
	}
	return s, nil
}

func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, ReplyError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		out := make([]any, n)
		for i := range out {
			v, err := readReply(r)
			if err != nil {
				if re, ok := err.(ReplyError); ok {
					out[i] = re
					continue
				}
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", line[0])
}

// killClients closes every normal client connection of the node at addr
// (CLIENT KILL TYPE normal) — except the one sending the command, which
// Redis keeps — and returns how many it closed.
func killClients(addr string) (int64, error) {
	v, err := Do(addr, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
	if err != nil {
		return 0, err
	}
	n, _ := v.(int64)
	return n, nil
}

// KillClients closes every normal client connection of the server (CLIENT
// KILL TYPE normal), as a Redis restart, a fail-over or a proxy's idle
// timeout would, and returns how many it closed.
func (s *Server) KillClients() int {
	s.t.Helper()
	n, err := killClients(s.Addr())
	if err != nil {
		s.t.Fatalf("redistest: CLIENT KILL: %v", err)
	}
	return int(n)
}
