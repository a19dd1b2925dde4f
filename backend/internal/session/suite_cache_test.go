package session

import (
	"context"
	"github.com/logto-bff/bff/backend/internal/authflow"
	"net/http/httptest"
	"testing"
)

// testRecordCache: a plain read may reuse the Record decoded from the same
// stored bytes, but never serves anything else: a changed record (another
// replica's Save) is decoded afresh, callers cannot alter the cache through
// what Load returns, and a destroyed session leaves nothing behind.
func testRecordCache(t *testing.T, e *env) {
	ctx := context.Background()
	m := e.open(t, Config{})
	other := e.open(t, Config{}) // another replica over the same store
	b := newBrowser()
	rec := sampleRecord("user-1", "sid-1")
	s := create(t, m, b, rec)

	first := mustLoad(t, m, b)
	sameRecord(t, first.Record, rec)
	// What a caller does to its copy does not reach the next read.
	first.Me[2] = 'X'
	first.Tokens.Resources["https://api.example.test"] = authflow.ResourceToken{AccessToken: "tampered"}
	delete(first.Tokens.Resources, "https://api.example.test")
	first.Tokens.AccessToken = "tampered"
	sameRecord(t, mustLoad(t, m, b).Record, rec)

	// The cache is really used for the same bytes: a marker planted in the
	// cached copy comes back...
	m.recs.mu.Lock()
	entry, ok := m.recs.entries[s.id]
	if !ok {
		m.recs.mu.Unlock()
		t.Fatal("no cached record after Load")
	}
	entry.rec.Tokens.Scope = "planted"
	m.recs.entries[s.id] = entry
	m.recs.mu.Unlock()
	if got := mustLoad(t, m, b); got.Tokens.Scope != "planted" {
		t.Fatalf("Scope = %q: the cached record was not used for unchanged bytes", got.Tokens.Scope)
	}

	// ...but once another replica saves new tokens the stored bytes differ
	// and the record is decoded again.
	rs, err := other.Reload(ctx, s)
	if err != nil {
		t.Fatalf("Reload on the other replica: %v", err)
	}
	rs.Tokens.AccessToken = "refreshed-elsewhere"
	if err := other.Save(ctx, rs); err != nil {
		t.Fatalf("Save on the other replica: %v", err)
	}
	got := mustLoad(t, m, b)
	if got.Tokens.AccessToken != "refreshed-elsewhere" || got.Tokens.Scope != rec.Tokens.Scope || got.Version != rs.Version {
		t.Fatalf("after another replica's Save: access %q scope %q v%d, want refreshed-elsewhere %q v%d",
			got.Tokens.AccessToken, got.Tokens.Scope, got.Version, rec.Tokens.Scope, rs.Version)
	}

	// Sign-out forgets the session's record (no tokens kept in memory).
	if _, err := m.Destroy(httptest.NewRecorder(), b.request()); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	m.recs.mu.Lock()
	_, ok = m.recs.entries[s.id]
	m.recs.mu.Unlock()
	if ok {
		t.Fatal("a destroyed session's record is still cached")
	}
	if _, err := load(m, b); !isNoSession(err) {
		t.Fatalf("Load after Destroy: %v, want ErrNoSession", err)
	}
}

func TestRecordCacheBound(t *testing.T) {
	tests := []struct {
		name     string
		size     int
		ids      []string
		wantLen  int
		wantLast bool // the last id put is cached
	}{
		{"under the bound", 3, []string{"a", "b"}, 2, true},
		{"at the bound", 2, []string{"a", "b"}, 2, true},
		{"over the bound evicts", 2, []string{"a", "b", "c", "d"}, 2, true},
		{"same id replaces", 2, []string{"a", "a", "a"}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newRecordCache(tt.size)
			for _, id := range tt.ids {
				c.put(id, []byte(`{"sub":"`+id+`"}`), Record{Subject: id}, true)
			}
			if len(c.entries) != tt.wantLen {
				t.Fatalf("%d entries, want %d", len(c.entries), tt.wantLen)
			}
			last := tt.ids[len(tt.ids)-1]
			rec, indexed, ok := c.get(last, []byte(`{"sub":"`+last+`"}`))
			if ok != tt.wantLast || (ok && (rec.Subject != last || !indexed)) {
				t.Fatalf("get(%q) = %q, %t", last, rec.Subject, ok)
			}
			if _, _, ok := c.get(last, []byte(`{"sub":"other"}`)); ok {
				t.Fatal("get with different bytes hit")
			}
		})
	}
}
