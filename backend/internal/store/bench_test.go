package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/redistest"
	"github.com/logto-bff/bff/backend/internal/store"
)

// Run with: CI=true go test -run '^$' -bench . -benchmem ./backend/internal/store/

func benchStore(b *testing.B, s store.Store) {
	ctx := context.Background()
	val := make([]byte, 2048) // about a session record
	for i := range 1000 {
		if err := s.Set(ctx, fmt.Sprint("b", i), val, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Get", func(b *testing.B) {
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Get(ctx, fmt.Sprint("b", n.Add(1)%1000)); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("Set", func(b *testing.B) {
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.Set(ctx, fmt.Sprint("b", n.Add(1)%1000), val, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("CompareAndSwap", func(b *testing.B) {
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				// Same old and new value: always stores, exercises the script.
				if _, err := s.CompareAndSwap(ctx, fmt.Sprint("b", n.Add(1)%1000), val, val, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

func BenchmarkMemory(b *testing.B) {
	m := store.NewMemory(store.MemoryOptions{})
	defer m.Close()
	benchStore(b, m)
}

func BenchmarkRedis(b *testing.B) {
	srv := redistest.Start(b)
	benchStore(b, openRedis(b, srv.URL()))
}
