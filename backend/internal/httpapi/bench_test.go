package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/logto-bff/bff/backend/internal/devidp"
)

// benchStores are the session stores the benchmarks compare: memory,
// Redis, and Redis with the near-cache (the default in Redis mode).
var benchStores = []struct {
	name      string
	store     string
	nearCache int
}{
	{"memory", storeMemory, 0},
	{"redis", storeRedis, 0},
	{"redis+nearcache", storeRedis, 10000},
}

// BenchmarkMe measures an authenticated GET /api/me over real HTTP
// (loopback) with each store: cookie verification, store read, JSON.
func BenchmarkMe(b *testing.B) {
	for _, v := range benchStores {
		b.Run(v.name, func(b *testing.B) {
			e := newEnv(b, v.store, envOptions{nearCache: v.nearCache})
			br := e.uncheckedBrowser(b)
			br.signIn(b, "", "alice")
			client := br.noFollow()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				// A new request each time: the client adds jar cookies to it.
				req, _ := http.NewRequest(http.MethodGet, e.url("/api/me"), nil)
				req.Header.Set("X-CSRF", "1")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

// BenchmarkProxy measures GET /api/proxy/bench/item through the BFF
// (session load, cached resource token, header rewriting, streaming copy)
// against calling the same upstream directly, over real HTTP on loopback.
// The upstream answers a fixed 1 KiB JSON body without checking the token,
// so the difference is the BFF's cost.
func BenchmarkProxy(b *testing.B) {
	payload := []byte(`{"items":"` + strings.Repeat("x", 1000) + `"}`)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(payload)
	}))
	b.Cleanup(up.Close)
	fetch := func(b *testing.B, client *http.Client, req *http.Request) {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || n != int64(len(payload)) {
			b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
		}
	}
	b.Run("direct", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodGet, up.URL+"/item", nil)
			req.Header.Set("Authorization", "Bearer a-token")
			fetch(b, client, req)
		}
	})
	for _, v := range benchStores {
		b.Run("proxied/"+v.name, func(b *testing.B) {
			cl := newCluster(b, clusterOptions{store: v.store, nearCache: v.nearCache, routes: "bench=" + up.URL + "|" + devidp.DefaultResourceIndicator})
			br := cl.browser(b)
			br.signIn(b, 0)
			if resp, body := br.do(b, 0, http.MethodGet, "/api/proxy/bench/item"); resp.StatusCode != http.StatusOK {
				b.Fatalf("warm-up: %d %s", resp.StatusCode, body)
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			cookie := &http.Cookie{Name: "bff-session", Value: br.cookie()}
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, cl.nodes[0].publicURL()+"/api/proxy/bench/item", nil)
				req.Header.Set("X-CSRF", "1")
				req.AddCookie(cookie)
				fetch(b, client, req)
			}
		})
	}
}

// BenchmarkMeAccessLog serves an authenticated GET /api/me in process
// (the router's ServeHTTP, no network: the server's own cost) with the
// request line written as in production — JSON to a file — three ways:
// off (the logger at warn: the middleware runs, nothing is written),
// slog (the JSON handler, one write per line) and requestlog (RequestLog:
// the same line appended by hand, buffered). The differences are what one
// request line costs on the hot path.
func BenchmarkMeAccessLog(b *testing.B) {
	for _, v := range benchStores {
		for _, mode := range []string{"off", "slog", "requestlog"} {
			b.Run(v.name+"/log="+mode, func(b *testing.B) {
				f, err := os.Create(filepath.Join(b.TempDir(), "bff.log"))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { f.Close() })
				o := envOptions{nearCache: v.nearCache, routerLog: slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))}
				switch mode {
				case "off":
					o.routerLog = slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelWarn}))
				case "requestlog":
					o.requestLog = NewRequestLog(f, slog.LevelInfo)
					b.Cleanup(func() { o.requestLog.Close() })
				}
				e := newEnv(b, v.store, o)
				br := e.uncheckedBrowser(b)
				br.signIn(b, "", "alice")
				cookie := &http.Cookie{Name: "bff-session", Value: br.sessionCookie()}
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
					req.Header.Set("X-CSRF", "1")
					req.AddCookie(cookie)
					w := httptest.NewRecorder()
					e.handler.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("status %d", w.Code)
					}
				}
				if o.requestLog != nil {
					if err := o.requestLog.Flush(); err != nil {
						b.Fatal(err)
					}
				}
				if st, err := f.Stat(); err == nil && mode != "off" && st.Size() == 0 {
					b.Fatal("no request line was written")
				}
			})
		}
	}
}

// BenchmarkRequestLine is the cost of one request line alone: the access
// log middleware around an empty handler, writing to a file.
func BenchmarkRequestLine(b *testing.B) {
	for _, mode := range []string{"off", "slog", "requestlog"} {
		b.Run(mode, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "bff.log"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { f.Close() })
			level := slog.LevelInfo
			if mode == "off" {
				level = slog.LevelWarn
			}
			s := &server{log: slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: level}))}
			if mode == "requestlog" {
				s.reqLog = NewRequestLog(f, slog.LevelInfo)
				b.Cleanup(func() { s.reqLog.Close() })
			}
			gin.SetMode(gin.ReleaseMode)
			r := gin.New()
			r.Use(s.accessLog)
			r.GET("/api/me", func(c *gin.Context) { c.Status(http.StatusNoContent) })
			req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				r.ServeHTTP(w, req)
			}
		})
	}
}
