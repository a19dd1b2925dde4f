package session

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzLoadCookie feeds arbitrary session-cookie values to Load and Destroy:
// they must never panic, never accept a value that is not the real cookie,
// and always answer ErrNoSession (Load) or nothing (Destroy).
func FuzzLoadCookie(f *testing.F) {
	e := memoryEnv(f)
	m := e.open(f, Config{})
	b := newBrowser()
	create(f, m, b, sampleRecord("user-1", "sid-1"))
	valid := b.cookies[m.CookieName()].Value
	for _, seed := range []string{"", "x", valid, valid[:len(valid)/2], valid + "A", "|||", "MTA=|MTA=|MTA=", "\x00", string(make([]byte, 5000))} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		r := httptest.NewRequest(http.MethodGet, "/api/me", nil)
		r.Header.Set("Cookie", m.CookieName()+"="+value)
		if r2, err := r.Cookie(m.CookieName()); err == nil && r2.Value == valid {
			t.Skip("the genuine cookie")
		}
		s, err := m.Load(httptest.NewRecorder(), r)
		if s != nil || !isNoSession(err) {
			t.Fatalf("Load(%q) = %v, %v; want ErrNoSession", value, s, err)
		}
		if s, err := m.Destroy(httptest.NewRecorder(), r); s != nil || err != nil {
			t.Fatalf("Destroy(%q) = %v, %v; want nil, nil", value, s, err)
		}
	})
}
