package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/config"
	"github.com/logto-bff/bff/backend/internal/devidp"
)

// Durations of the streaming tests: longer than the server's writeTimeout
// (60 s), so they fail if a proxied response still had a whole-response
// deadline. They run at once, in parallel with the package's other tests,
// so they cost about 90 s of wall time.
const (
	sseEvents        = 90 // one per second
	downloadDuration = 70 * time.Second
	downloadChunk    = 32 << 10
	downloadEvery    = 250 * time.Millisecond
)

// TestProxyStreamsThroughTheRealServer runs the BFF with its real server
// limits and proxies to an upstream that streams: a 90 s server-sent-events
// stream and a 70 s download arrive whole, and an upstream that goes
// silent is cut within the proxy's idle timeout.
func TestProxyStreamsThroughTheRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("90 s of streaming; not with -short")
	}
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		tick := func(d time.Duration) bool {
			select {
			case <-time.After(d):
				return true
			case <-r.Context().Done():
				return false
			}
		}
		switch r.URL.Path {
		case "/events":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range sseEvents {
				fmt.Fprintf(w, "data: %d\n\n", i)
				_ = rc.Flush()
				if !tick(time.Second) {
					return
				}
			}
			fmt.Fprint(w, "data: end\n\n")
		case "/download":
			w.Header().Set("Content-Type", "application/octet-stream")
			for i := 0; i < int(downloadDuration/downloadEvery); i++ {
				_, _ = w.Write(downloadBlock(i))
				_ = rc.Flush()
				if !tick(downloadEvery) {
					return
				}
			}
		case "/silent":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: first\n\n")
			_ = rc.Flush()
			<-r.Context().Done()
		}
	}))
	t.Cleanup(upstream.Close)

	r := startRun(t, []string{"dev"}, map[string]string{
		config.EnvListen: "127.0.0.1:0", envDevIDPListen: "127.0.0.1:0",
		config.EnvAPIRoutes: "stream=" + upstream.URL + "|" + devidp.DefaultResourceIndicator,
	})
	c := newBrowser(strings.TrimPrefix(r.ready.PublicURL, "http://"), nil)
	waitReady(t, c, r.ready.PublicURL)
	signInAlice(t, c, r.ready.PublicURL)
	stream := *c
	stream.Timeout = 0 // bounded by the context below instead
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	open := func(path string) (*http.Response, time.Time, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.ready.PublicURL+"/api/proxy/stream"+path, nil)
		req.Header.Set("X-CSRF", "1")
		start := time.Now()
		resp, err := stream.Do(req)
		if err != nil {
			return nil, start, err
		}
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return nil, start, fmt.Errorf("%s = %d %s", path, resp.StatusCode, body)
		}
		return resp, start, nil
	}

	// The three run at once (goroutines, not parallel subtests, which
	// -parallel could serialize): about 90 s in all.
	checks := map[string]func() error{
		"server-sent events for 90 s": func() error {
			resp, start, err := open("/events")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var events []string
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					events = append(events, d)
				}
			}
			if err := sc.Err(); err != nil {
				return fmt.Errorf("stream failed after %v and %d events: %w", time.Since(start), len(events), err)
			}
			if len(events) != sseEvents+1 || events[sseEvents] != "end" {
				return fmt.Errorf("got %d events in %v, want %d and the end marker", len(events), time.Since(start), sseEvents+1)
			}
			t.Logf("server-sent events: %d events in %v", len(events), time.Since(start).Round(time.Second))
			return nil
		},
		"download for 70 s": func() error {
			resp, start, err := open("/download")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			got := sha256.New()
			n, err := io.Copy(got, resp.Body)
			if err != nil {
				return fmt.Errorf("download failed after %v and %d bytes: %w", time.Since(start), n, err)
			}
			want := sha256.New()
			blocks := int(downloadDuration / downloadEvery)
			for i := range blocks {
				want.Write(downloadBlock(i))
			}
			if n != int64(blocks*downloadChunk) || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
				return fmt.Errorf("downloaded %d bytes in %v, want %d (checksum match: %v)", n, time.Since(start), blocks*downloadChunk, bytes.Equal(got.Sum(nil), want.Sum(nil)))
			}
			t.Logf("download: %d bytes in %v", n, time.Since(start).Round(time.Second))
			return nil
		},
		"a silent upstream is cut": func() error {
			resp, start, err := open("/silent")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, err = io.ReadAll(resp.Body)
			took := time.Since(start)
			if err == nil {
				return fmt.Errorf("the cut stream ended cleanly after %v: the browser must see it failed", took)
			}
			// The proxy's default idle timeout is 60 s (plus up to 1 s of
			// deadline granularity).
			if took < 55*time.Second || took > 75*time.Second {
				return fmt.Errorf("silent upstream cut after %v, want about 60 s", took)
			}
			t.Logf("silent upstream: cut after %v", took.Round(time.Second))
			return nil
		},
	}
	var wg sync.WaitGroup
	for name, check := range checks {
		wg.Go(func() {
			if err := check(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	wg.Wait()
}

// downloadBlock is block i of the download: recognizable, so a lost or
// repeated block changes the checksum.
func downloadBlock(i int) []byte {
	b := make([]byte, downloadChunk)
	for j := range b {
		b[j] = byte(i*31 + j)
	}
	return b
}
