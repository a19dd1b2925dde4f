package httpapi

import (
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// RequestLogFlushDelay is the longest a request line waits in a
// RequestLog's buffer before it is written.
const RequestLogFlushDelay = 20 * time.Millisecond

// requestLogBufferBytes is the buffer size at which a RequestLog writes
// at once, whatever the delay.
const requestLogBufferBytes = 64 << 10

// RequestLog writes the router's request lines as JSON, byte for byte the
// keys and value encodings slog's JSON handler writes for them (time,
// level, msg "request", method, route, status, duration in nanoseconds,
// bytes, error), at a fraction of the cost: each line is appended by hand
// to a buffer, and the buffer is written to the underlying writer at most
// RequestLogFlushDelay after its first line (or when it holds 64 KiB), so
// under load one write carries many lines. An ERROR line (a 5xx) is
// written at once with everything before it. Flush writes what is
// buffered; call it (or Close) before the process exits.
//
// The lines are the router's only: other log lines go through the
// slog.Logger as before, to the same writer, each in one write, so lines
// never interleave mid-line. A RequestLog is safe for concurrent use.
type RequestLog struct {
	level slog.Leveler

	mu        sync.Mutex
	w         io.Writer
	buf       []byte
	scheduled bool // a flush is scheduled
	closed    bool
	err       error // the first write error (later lines are dropped)
}

// NewRequestLog returns a RequestLog writing to w lines at level or above
// (request lines are INFO, or ERROR for a 5xx).
func NewRequestLog(w io.Writer, level slog.Leveler) *RequestLog {
	if level == nil {
		level = slog.LevelInfo
	}
	return &RequestLog{level: level, w: w, buf: make([]byte, 0, requestLogBufferBytes)}
}

// requestLine is one request line's fields.
type requestLine struct {
	level    slog.Level
	method   string
	route    string
	status   int
	duration time.Duration
	bytes    int
	err      string // "" when none
}

// enabled reports whether lines at level are written.
func (l *RequestLog) enabled(level slog.Level) bool { return level >= l.level.Level() }

// write appends one line, and writes the buffer out now (an ERROR line, a
// full buffer) or schedules it.
func (l *RequestLog) write(now time.Time, r requestLine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.err != nil {
		return
	}
	b := l.buf
	b = append(b, `{"time":"`...)
	b = now.AppendFormat(b, time.RFC3339Nano) // as slog's JSON handler
	b = append(b, `","level":`...)
	b = appendJSONString(b, r.level.String())
	b = append(b, `,"msg":"request","method":`...)
	b = appendJSONString(b, r.method)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, r.route)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(r.duration), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(r.bytes), 10)
	if r.err != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, r.err)
	}
	b = append(b, "}\n"...)
	l.buf = b
	switch {
	case r.level >= slog.LevelError || len(l.buf) >= requestLogBufferBytes:
		l.flushLocked()
	case !l.scheduled:
		l.scheduled = true
		time.AfterFunc(RequestLogFlushDelay, l.scheduledFlush)
	}
}

func (l *RequestLog) scheduledFlush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.scheduled = false
	l.flushLocked()
}

func (l *RequestLog) flushLocked() {
	if len(l.buf) == 0 || l.err != nil {
		return
	}
	_, l.err = l.w.Write(l.buf)
	l.buf = l.buf[:0]
}

// Flush writes the buffered lines now. It returns the first write error
// the RequestLog met, if any.
func (l *RequestLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	return l.err
}

// Close flushes and drops every later line.
func (l *RequestLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	l.closed = true
	return l.err
}

// appendJSONString appends s as a JSON string exactly as slog's JSON
// handler does: quotes, backslashes and control characters escaped,
// U+2028 and U+2029 escaped, invalid UTF-8 replaced by \ufffd.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
