package session

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"time"
)

// defaultMaxIndexed bounds the entries of one back-channel-logout index
// (the live sessions of one subject, or of one Logto session): about 70
// bytes each, so at most ~18 KB per index value.
const defaultMaxIndexed = 256

// legacyIndex is implemented by a store that can still read the index sets
// the previous release kept in Redis (SMEMBERS of "bff:i:sid:<sid>" and
// "bff:i:sub:<sub>"). Back-channel logout reads them besides the new index
// until they expire, so a session created before the upgrade and not used
// since is still found. A memory store has nothing to migrate and does not
// implement it.
type legacyIndex interface {
	LegacySetMembers(ctx context.Context, key string) ([]string, error)
}

// indexEntry is one session in an index: its id and its absolute end, after
// which the entry is dropped (the session cannot outlive it).
type indexEntry struct {
	ID  string `json:"id"`
	Exp int64  `json:"exp"` // Unix seconds
}

// decodeIndex parses an index value and drops entries that ended by now. A
// value that does not parse counts as empty (and is replaced by the next
// write): an index is a lookup aid, the sessions are the truth.
func decodeIndex(raw []byte, now time.Time) []indexEntry {
	var entries []indexEntry
	if raw == nil || json.Unmarshal(raw, &entries) != nil {
		return nil
	}
	return slices.DeleteFunc(entries, func(e indexEntry) bool { return e.Exp <= now.Unix() })
}

// encodeIndex renders entries with the TTL of the latest; nil when empty
// (the key is then deleted).
func encodeIndex(entries []indexEntry, now time.Time) ([]byte, time.Duration, error) {
	if len(entries) == 0 {
		return nil, 0, nil
	}
	var last int64
	for _, e := range entries {
		last = max(last, e.Exp)
	}
	data, err := json.Marshal(entries)
	return data, time.Unix(last, 0).Sub(now), err
}

// indexKeysOf lists the indexes a record belongs in.
func indexKeysOf(rec *Record) []string {
	keys := make([]string, 0, 2)
	if rec.SID != "" {
		keys = append(keys, indexKey(bySID, rec.SID))
	}
	if rec.Subject != "" {
		keys = append(keys, indexKey(bySubject, rec.Subject))
	}
	return keys
}

// index adds session id, ending at rec.ExpiresAt, to the indexes of rec.
// An index at its bound first drops entries whose session is gone; if every
// one is live, the session ending first is deleted (then unlisted) to make
// room: a user keeps at most maxIndexed concurrent sessions, and no live
// session is ever left out of an index.
func (m *Manager) index(ctx context.Context, id string, rec *Record) error {
	exp := rec.ExpiresAt.Unix() + 1 // round up: never before the session ends
	for _, key := range indexKeysOf(rec) {
		checked := false
		err := m.update(ctx, key, func(cur []byte) ([]byte, time.Duration, error) {
			now := m.cfg.Now()
			entries := decodeIndex(cur, now)
			if i := slices.IndexFunc(entries, func(e indexEntry) bool { return e.ID == id }); i >= 0 {
				entries[i].Exp = max(entries[i].Exp, exp)
				return encodeIndex(entries, now)
			}
			if len(entries) >= m.maxIndexed && !checked {
				// Reads only, safe to repeat if the swap loses.
				live, err := m.liveEntries(ctx, entries)
				if err != nil {
					return nil, 0, err
				}
				entries, checked = live, true
			}
			for len(entries) >= m.maxIndexed {
				first := slices.MinFunc(entries, func(a, b indexEntry) int { return cmp.Compare(a.Exp, b.Exp) })
				// Deleting a session twice (a lost swap repeats this) is
				// harmless; listing a deleted one is too. Never the reverse.
				if _, err := m.st.CompareAndDelete(ctx, sessionKey(first.ID), nil); err != nil {
					return nil, 0, err
				}
				m.recs.forget(first.ID)
				entries = slices.DeleteFunc(entries, func(e indexEntry) bool { return e.ID == first.ID })
			}
			return encodeIndex(append(entries, indexEntry{ID: id, Exp: exp}), now)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// liveEntries keeps the entries whose session still exists.
func (m *Manager) liveEntries(ctx context.Context, entries []indexEntry) ([]indexEntry, error) {
	live := entries[:0:0]
	for _, e := range entries {
		raw, err := m.st.Get(ctx, sessionKey(e.ID))
		if err != nil {
			return nil, err
		}
		if raw != nil {
			live = append(live, e)
		}
	}
	return live, nil
}

// unindex removes the session ids from the index at key.
func (m *Manager) unindex(ctx context.Context, key string, ids ...string) error {
	return m.update(ctx, key, func(cur []byte) ([]byte, time.Duration, error) {
		now := m.cfg.Now()
		entries := decodeIndex(cur, now)
		entries = slices.DeleteFunc(entries, func(e indexEntry) bool { return slices.Contains(ids, e.ID) })
		return encodeIndex(entries, now)
	})
}

// unindexRecord removes a deleted session from its indexes. Failure is
// logged, not returned: the session is gone, and an entry of a gone session
// is skipped by back-channel logout and dropped when its index is full.
func (m *Manager) unindexRecord(ctx context.Context, id string, rec *Record) {
	for _, key := range indexKeysOf(rec) {
		if err := m.unindex(ctx, key, id); err != nil {
			m.cfg.Logger.WarnContext(ctx, "session: unindex deleted session failed", "error", err)
		}
	}
}

// indexed lists the session ids in the index (kind, value): the new one
// and, if the store can read it, the previous release's set.
func (m *Manager) indexed(ctx context.Context, kind indexKind, value string) ([]string, error) {
	raw, err := m.st.Get(ctx, indexKey(kind, value))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range decodeIndex(raw, m.cfg.Now()) {
		ids = append(ids, e.ID)
	}
	if li, ok := m.st.(legacyIndex); ok {
		old, err := li.LegacySetMembers(ctx, legacyIndexKey(kind, value))
		if err != nil {
			return nil, err
		}
		for _, id := range old {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}
