package session

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkLoad measures a plain read (/api/me's hot path): cookie check,
// one store read, one JSON decode, no write.
func BenchmarkLoad(b *testing.B) {
	for _, ev := range envs {
		b.Run(ev.name, func(b *testing.B) {
			e := ev.new(b)
			m := e.open(b, Config{})
			br := newBrowser()
			create(b, m, br, sampleRecord("user-1", "sid-1"))
			r := br.request()
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Load(w, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
