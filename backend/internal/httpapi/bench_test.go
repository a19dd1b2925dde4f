package httpapi

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkMe measures an authenticated GET /api/me over real HTTP
// (loopback) with each store: cookie verification, store read, JSON.
func BenchmarkMe(b *testing.B) {
	for _, store := range stores {
		b.Run(store, func(b *testing.B) {
			e := newEnv(b, store, envOptions{})
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
