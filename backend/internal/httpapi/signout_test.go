package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/logto-bff/bff/backend/internal/session"
)

// postSignOut submits the SPA's sign-out form with the given headers.
func (b *browser) postSignOut(t testing.TB, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.url("/auth/sign-out"), strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(t, req)
}

// refreshWorks presents refreshToken to the IdP's token endpoint.
func (e *env) refreshWorks(t testing.TB, refreshToken string) bool {
	t.Helper()
	return refreshGrantWorks(t, e.issuer(), refreshToken)
}

// refreshGrantWorks presents refreshToken, as our client, to the token
// endpoint of the IdP at issuer and reports whether it was accepted.
func refreshGrantWorks(t testing.TB, issuer, refreshToken string) bool {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, clientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func TestSignOutRevokesAndEndsSession(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		b := e.browser(t)
		b.signIn(t, "", "alice")
		cookie := b.sessionCookie()
		sess, err := e.storedSession(t, cookie)
		if err != nil {
			t.Fatal(err)
		}
		refresh, idToken := sess.Tokens.RefreshToken, sess.Tokens.IDToken
		if refresh == "" || idToken == "" {
			t.Fatal("session holds no refresh or ID token")
		}

		resp, body := b.postSignOut(t, "Origin", e.bff.URL)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-out = %d %s", resp.StatusCode, body)
		}
		loc, _ := url.Parse(resp.Header.Get("Location"))
		q := loc.Query()
		if !strings.HasPrefix(loc.String(), e.issuer()+"/session/end?") || q.Get("client_id") != clientID ||
			q.Get("post_logout_redirect_uri") != e.bff.URL+"/" || q.Get("id_token_hint") != idToken {
			t.Errorf("end session redirect = %s", loc.Redacted())
		}
		if st := e.idp.Stats(); st.Revocations != 1 {
			t.Errorf("Revocations = %d, want 1", st.Revocations)
		}
		if e.refreshWorks(t, refresh) {
			t.Error("the refresh token still works after sign-out")
		}
		if b.sessionCookie() != "" {
			t.Error("the session cookie was not deleted")
		}
		if _, err := e.storedSession(t, cookie); !errors.Is(err, session.ErrNoSession) {
			t.Errorf("server-side session: %v, want ErrNoSession", err)
		}
		again := e.browser(t)
		again.setCookie("bff-session", cookie)
		if code, _ := again.api(t, "/api/me"); code != http.StatusUnauthorized {
			t.Errorf("old cookie after sign-out: %d", code)
		}
		assertLogsClean(t, e)
	})
}

func TestSignOutWithoutSession(t *testing.T) {
	e := newEnv(t, storeMemory, envOptions{})
	b := e.browser(t)
	resp, _ := b.postSignOut(t, "Origin", e.bff.URL)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc.String(), e.issuer()+"/session/end?") || loc.Query().Has("id_token_hint") {
		t.Errorf("sign-out without session = %d %s", resp.StatusCode, loc)
	}
	// With a forged cookie: the same.
	b.setCookie("bff-session", "forged-value")
	if resp, _ := b.postSignOut(t, "Origin", e.bff.URL); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out with a forged cookie = %d", resp.StatusCode)
	}
}

func TestCrossSiteSignOutRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		b := e.browser(t)
		b.signIn(t, "", "alice")
		for _, h := range [][]string{
			{"Origin", "https://evil.example"},
			{"Origin", "null"},
			{"Origin", "null", "Sec-Fetch-Site", "cross-site"},
			{"Origin", "null", "Sec-Fetch-Site", "same-site"},
			{"Origin", strings.Replace(e.bff.URL, "127.0.0.1", "localhost", 1)},
			{"Sec-Fetch-Site", "cross-site"},
			{"Sec-Fetch-Site", "same-site"},
			{}, // neither header
		} {
			resp, body := b.postSignOut(t, h...)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "forbidden_origin") {
				t.Errorf("%v: %d %s", h, resp.StatusCode, body)
			}
			if resp.Header.Get("Location") != "" {
				t.Errorf("%v: redirected", h)
			}
		}
		if code, _ := b.api(t, "/api/me"); code != http.StatusOK {
			t.Fatalf("refused sign-outs ended the session: %d", code)
		}
		if st := e.idp.Stats(); st.Revocations != 0 {
			t.Errorf("refused sign-outs revoked tokens")
		}
		resp, body := b.postSignOut(t, "Origin", e.bff.URL, "Accept", "application/json")
		_ = body
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("same-origin sign-out = %d", resp.StatusCode)
		}
		b.signIn(t, "", "alice")
		if resp, _ := b.postSignOut(t, "Sec-Fetch-Site", "same-origin"); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("Sec-Fetch-Site same-origin without Origin = %d", resp.StatusCode)
		}
		// Chromium sends Origin: null on a same-origin form post from a page
		// whose Referrer-Policy is no-referrer; Sec-Fetch-Site then decides.
		b.signIn(t, "", "alice")
		if resp, _ := b.postSignOut(t, "Origin", "null", "Sec-Fetch-Site", "same-origin"); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("Origin null with Sec-Fetch-Site same-origin = %d", resp.StatusCode)
		}
	})
}

func TestCrossSiteSignOutJSON(t *testing.T) {
	e := newEnv(t, storeMemory, envOptions{})
	resp, body := e.browser(t).postSignOut(t, "Origin", "https://evil.example", "Accept", "application/json")
	if resp.StatusCode != http.StatusForbidden || errorCode(t, body) != "forbidden_origin" {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}

func TestSignOutBodyLimit(t *testing.T) {
	e := newEnv(t, storeMemory, envOptions{})
	b := e.browser(t) // the 413 must be the documented one
	req, _ := http.NewRequest(http.MethodPost, e.url("/auth/sign-out"), strings.NewReader("x="+strings.Repeat("a", DefaultMaxBodyBytes)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.bff.URL)
	req.Header.Set("Accept", "application/json")
	resp, body := b.do(t, req)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || errorCode(t, body) != "payload_too_large" {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}
