package session

import (
	"fmt"
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

// BenchmarkCreate measures a sign-in's session write: the session stored
// only-if-absent and listed in its two back-channel-logout indexes (each a
// read and a compare-and-swap). Every iteration is another user, so the
// indexes do not grow.
func BenchmarkCreate(b *testing.B) {
	for _, ev := range envs {
		b.Run(ev.name, func(b *testing.B) {
			e := ev.new(b)
			m := e.open(b, Config{})
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				rec := sampleRecord(fmt.Sprintf("user-%d", i), fmt.Sprintf("sid-%d", i))
				if _, err := m.Create(httptest.NewRecorder(), newBrowser().request(), rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
