package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/kittest"
)

// TestRequestLogLineIsSlogsJSONLine: the hand-written line is byte for
// byte the line slog's JSON handler writes for the same request, for
// awkward strings too (a client chooses the method).
func TestRequestLogLineIsSlogsJSONLine(t *testing.T) {
	now := time.Date(2026, 12, 6, 21, 50, 13, 987654321, time.FixedZone("x", 3600))
	lines := []requestLine{
		{level: slog.LevelInfo, method: "GET", route: "/api/me", status: 200, duration: 12345 * time.Nanosecond, bytes: 1085},
		{level: slog.LevelError, method: "POST", route: "/auth/sign-out", status: 503, duration: time.Second, bytes: 0, err: "store unavailable"},
		{level: slog.LevelInfo, method: "G\"E\\T\n\r\t\x01\x7f", route: "unmatched", status: 404},
		{level: slog.LevelWarn, method: "bad\xffutf8 \u2028\u2029 é ✓ <>&", route: "/x", status: 400, err: "q\"uote"},
		{level: slog.LevelInfo, method: "", route: "", status: 0, duration: -5},
	}
	for _, l := range lines {
		var want bytes.Buffer
		rec := slog.NewRecord(now, l.level, "request", 0)
		rec.AddAttrs(slog.String("method", l.method), slog.String("route", l.route), slog.Int("status", l.status),
			slog.Duration("duration", l.duration), slog.Int("bytes", l.bytes))
		if l.err != "" {
			rec.AddAttrs(slog.String("error", l.err))
		}
		if err := slog.NewJSONHandler(&want, nil).Handle(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		rl := NewRequestLog(&got, slog.LevelDebug)
		rl.write(now, l)
		if err := rl.Flush(); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("line for %+v:\n got %s\nwant %s", l, got.String(), want.String())
		}
	}
}

// TestRequestLogFlushing: lines are written within the flush delay
// without any call, an ERROR line at once, nothing below the level, and
// nothing after Close.
func TestRequestLogFlushing(t *testing.T) {
	var out kittest.LogBuffer
	rl := NewRequestLog(&out, slog.LevelInfo)
	info := requestLine{level: slog.LevelInfo, method: "GET", route: "/api/me", status: 200}
	rl.write(time.Now(), info)
	if out.String() != "" {
		t.Fatal("an INFO line was written at once; want it buffered")
	}
	deadline := time.Now().Add(RequestLogFlushDelay + 2*time.Second)
	for strings.Count(out.String(), "\n") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the buffered line was not written within %v", RequestLogFlushDelay)
		}
		time.Sleep(time.Millisecond)
	}
	rl.write(time.Now(), info)
	rl.write(time.Now(), requestLine{level: slog.LevelError, method: "GET", route: "/api/me", status: 500})
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Fatalf("after an ERROR line %d lines are written, want 3 (it writes everything before it too)", n)
	}
	if rl.enabled(slog.LevelDebug) || !rl.enabled(slog.LevelInfo) {
		t.Fatal("enabled does not follow the level")
	}
	if err := rl.Close(); err != nil {
		t.Fatal(err)
	}
	rl.write(time.Now(), requestLine{level: slog.LevelError, method: "GET", route: "/x", status: 500})
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Fatalf("a line was written after Close (%d lines)", n)
	}
}

// TestRequestLogThroughTheRouter: with Options.RequestLog the router's
// request line for /api/me lands there, parses as JSON with the same
// fields as the logger's line, and holds no session cookie.
func TestRequestLogThroughTheRouter(t *testing.T) {
	var out kittest.LogBuffer
	rl := NewRequestLog(&out, slog.LevelInfo)
	e := newEnv(t, storeMemory, envOptions{requestLog: rl})
	br := e.browser(t)
	br.signIn(t, "", "alice")
	if code, _ := br.api(t, "/api/me"); code != http.StatusOK {
		t.Fatalf("/api/me: %d", code)
	}
	if err := rl.Flush(); err != nil {
		t.Fatal(err)
	}
	cookie := br.sessionCookie()
	found := false
	for line := range strings.Lines(out.String()) {
		if cookie != "" && strings.Contains(line, cookie) {
			t.Fatalf("a request line holds the session cookie: %s", line)
		}
		var l struct {
			Level, Msg, Method, Route string
			Status, Bytes             int
			Duration                  int64
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("not JSON: %s (%v)", line, err)
		}
		if l.Msg == "request" && l.Route == "/api/me" && l.Method == "GET" && l.Status == 200 && l.Level == "INFO" && l.Bytes > 0 && l.Duration > 0 {
			found = true
		}
	}
	if !found {
		t.Fatalf("no request line for GET /api/me 200 in:\n%s", out.String())
	}
	if strings.Contains(e.logs.String(), `"msg":"request"`) {
		t.Fatal("request lines still go through the logger too")
	}
}
