package proxy

import (
	"io"
	"net/http"
	"testing"

	"github.com/logto-bff/bff/backend/internal/routes"
)

// benchBody is ~200 bytes of JSON, a typical small API answer.
var benchBody = `{"id":42,"name":"Widget","price":{"amount":1999,"currency":"EUR"},` +
	`"tags":["blue","large","sale"],"stock":{"warehouse":"north","count":17},` +
	`"updated_at":"2026-11-25T19:16:27Z","links":{"self":"/v1/items/42"}}`

func benchUpstream(b *testing.B) *upstream {
	b.Helper()
	if len(benchBody) < 180 || len(benchBody) > 220 {
		b.Fatalf("benchBody is %d bytes, want ~200", len(benchBody))
	}
	return newUpstream(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, benchBody)
	})
}

// benchGet fetches url from parallel goroutines with a keep-alive client.
func benchGet(b *testing.B, url string) {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	b.Cleanup(client.CloseIdleConnections)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || n != int64(len(benchBody)) {
				b.Errorf("status %d, %d bytes", res.StatusCode, n)
				return
			}
		}
	})
}

// BenchmarkDirect is the baseline: the client talks to the upstream.
func BenchmarkDirect(b *testing.B) {
	up := benchUpstream(b)
	benchGet(b, up.URL+"/v1/items/42?expand=stock")
}

// BenchmarkProxy is the same request through the proxy: the difference is
// the proxy's cost (one extra loopback hop, checks, header rewriting).
func BenchmarkProxy(b *testing.B) {
	up := benchUpstream(b)
	srv := newProxyServer(b, []routes.Route{{Name: "items", Upstream: up.url(b, "/v1")}}, routeTokens, Options{})
	benchGet(b, srv.URL+"/api/proxy/items/items/42?expand=stock")
}

// BenchmarkJoinPath measures the path checks alone.
func BenchmarkJoinPath(b *testing.B) {
	base := mustURL(b, "https://up.internal:8443/v1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := JoinPath(base, "/items/42/reviews;page=2"); err != nil {
			b.Fatal(err)
		}
	}
}
