package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/routes"
)

// newTimeoutServer serves a Proxy on loopback behind an http.Server with
// short whole-request timeouts, as the BFF's server has long ones.
func newTimeoutServer(t *testing.T, up *upstream, opts Options, serverTimeout time.Duration) *httptest.Server {
	t.Helper()
	p, err := New([]routes.Route{{Name: "svc", Upstream: up.url(t, "")}}, routeTokens, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(p)
	srv.Config.ReadTimeout = serverTimeout
	srv.Config.WriteTimeout = serverTimeout
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// sseUpstream sends n events, one every interval, then ends.
func sseUpstream(t *testing.T, n int, interval time.Duration) *upstream {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range n {
			if _, err := fmt.Fprintf(w, "data: %d\n\n", i); err != nil {
				return
			}
			_ = rc.Flush()
			select {
			case <-time.After(interval):
			case <-r.Context().Done():
				return
			}
		}
	})
}

// readEvents reads SSE data lines until the stream ends or fails.
func readEvents(body io.Reader) ([]string, error) {
	var events []string
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, d)
		}
	}
	return events, sc.Err()
}

// TestProxyStreamOutlivesServerTimeouts: a stream that keeps flowing lasts
// longer than the server's WriteTimeout (here 10 times longer).
func TestProxyStreamOutlivesServerTimeouts(t *testing.T) {
	t.Parallel()
	const n = 25
	up := sseUpstream(t, n, 100*time.Millisecond) // 2.5 s
	srv := newTimeoutServer(t, up, Options{IdleTimeout: time.Second}, 250*time.Millisecond)
	resp, err := http.Get(srv.URL + Prefix + "svc/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events, err := readEvents(resp.Body)
	if err != nil || len(events) != n || events[n-1] != fmt.Sprint(n-1) {
		t.Fatalf("got %d of %d events (last %v), err %v", len(events), n, events[len(events)-1:], err)
	}
}

// TestProxyUploadOutlivesServerTimeouts: a request body that keeps flowing
// may take longer than the server's ReadTimeout.
func TestProxyUploadOutlivesServerTimeouts(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, nil)
	srv := newTimeoutServer(t, up, Options{IdleTimeout: time.Second}, 250*time.Millisecond)
	pr, pw := io.Pipe()
	go func() {
		for i := range 20 { // 2 s
			fmt.Fprintf(pw, "chunk %d\n", i)
			time.Sleep(100 * time.Millisecond)
		}
		pw.Close()
	}()
	resp, err := http.Post(srv.URL+Prefix+"svc/upload", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(up.seen().Body, "chunk 19\n") {
		t.Fatalf("upload = %d, upstream saw %d bytes", resp.StatusCode, len(up.seen().Body))
	}
}

// TestProxyCutsIdleUpstream: an upstream that stops sending mid-stream is
// cut after IdleTimeout (plus the deadline step), not left open forever.
func TestProxyCutsIdleUpstream(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done() // silent until the proxy gives up
	})
	srv := newTimeoutServer(t, up, Options{IdleTimeout: idle}, time.Minute)
	start := time.Now()
	resp, err := http.Get(srv.URL + Prefix + "svc/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events, err := readEvents(resp.Body)
	took := time.Since(start)
	if err == nil {
		t.Fatalf("the cut stream ended cleanly (%v): the browser must see it failed", events)
	}
	if len(events) != 1 || took < idle || took > idle+deadlineStep+2*time.Second {
		t.Fatalf("events %v, cut after %v (idle timeout %v)", events, took, idle)
	}
}

// TestProxyCutsStalledReader: a browser that stops reading is cut after
// IdleTimeout (plus the deadline step), freeing the upstream.
func TestProxyCutsStalledReader(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	done := make(chan time.Time, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		chunk := strings.Repeat("x", 64<<10)
		for {
			if _, err := io.WriteString(w, chunk); err != nil {
				break
			}
		}
		done <- time.Now()
	})
	srv := newTimeoutServer(t, up, Options{IdleTimeout: idle}, time.Minute)
	resp, err := http.Get(srv.URL + Prefix + "svc/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now() // and never read
	select {
	case end := <-done:
		if took := end.Sub(start); took > idle+deadlineStep+5*time.Second {
			t.Fatalf("upstream freed after %v", took)
		}
	case <-time.After(idle + deadlineStep + 10*time.Second):
		t.Fatal("a browser that stopped reading holds the upstream open")
	}
}
