package authflow

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/logto-bff/bff/backend/internal/devidp"
)

// tokenRecorder records every request to the token endpoint and can make
// the identity provider look down (503) without closing it.
type tokenRecorder struct {
	base http.RoundTripper
	down atomic.Bool
	mu   sync.Mutex
	reqs []recordedRequest
}

type recordedRequest struct {
	basicUser string
	form      url.Values
}

func (r *tokenRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.down.Load() {
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
			Header: http.Header{"Content-Type": {"text/plain"}}, Body: io.NopCloser(strings.NewReader("down")), Request: req}, nil
	}
	if strings.HasSuffix(req.URL.Path, "/oidc/token") && req.Body != nil {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(strings.NewReader(string(body)))
		form, _ := url.ParseQuery(string(body))
		user, _, _ := req.BasicAuth()
		r.mu.Lock()
		r.reqs = append(r.reqs, recordedRequest{basicUser: user, form: form})
		r.mu.Unlock()
	}
	return r.base.RoundTrip(req)
}

func (r *tokenRecorder) requests() []recordedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recordedRequest(nil), r.reqs...)
}

// signedIn returns a fixture with a recorder and the tokens of a completed
// sign-in as alice.
func signedIn(t *testing.T) (*fixture, *tokenRecorder, *Result) {
	t.Helper()
	rec := &tokenRecorder{base: http.DefaultTransport}
	f := newFixture(t, func(c *Config) { c.HTTPClient = &http.Client{Transport: rec, Timeout: 5 * time.Second} })
	attempt, q := f.signIn(t, SignInParams{ReturnTo: "/"}, false)
	res, err := f.client.Exchange(context.Background(), q.Get("code"), attempt)
	if err != nil {
		t.Fatal(err)
	}
	return f, rec, res
}

func (f *fixture) advance(d time.Duration) {
	f.idpTime.Set(f.idpTime.Now().Add(d))
	f.bffTime.Set(f.bffTime.Now().Add(d))
}

func TestRefreshRotatesAndPresentsTheTokenOnce(t *testing.T) {
	f, rec, res := signedIn(t)
	f.advance(59 * time.Minute)
	before := len(rec.requests())
	out, err := f.client.Refresh(context.Background(), res.Tokens, res.Subject)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	got := out.Tokens
	if got.AccessToken == "" || got.AccessToken == res.Tokens.AccessToken {
		t.Error("access token not renewed")
	}
	if got.RefreshToken == "" || got.RefreshToken == res.Tokens.RefreshToken {
		t.Error("strict provider: refresh token not rotated")
	}
	if want := f.bffTime.Now().Add(time.Hour); !got.AccessTokenExpiry.Equal(want) {
		t.Errorf("expiry = %v, want %v (the BFF's clock + expires_in)", got.AccessTokenExpiry, want)
	}
	if out.IDTokenErr != nil || got.IDToken == "" || got.IDToken == res.Tokens.IDToken {
		t.Errorf("ID token not renewed: %v", out.IDTokenErr)
	}
	reqs := rec.requests()[before:]
	if len(reqs) != 1 {
		t.Fatalf("%d token requests, want exactly 1", len(reqs))
	}
	r := reqs[0]
	if r.basicUser != testClientID || r.form.Get("client_secret") != "" || r.form.Get("client_id") != "" {
		t.Errorf("client authentication not Basic-only: user=%q form=%v", r.basicUser, r.form)
	}
	if r.form.Get("grant_type") != "refresh_token" || r.form.Get("refresh_token") != res.Tokens.RefreshToken || r.form.Has("resource") {
		t.Errorf("form = %v", r.form)
	}
	if st := f.idp.Stats(); st.RefreshGrants != 1 || st.RefreshReuse != 0 {
		t.Errorf("stats = %+v", st)
	}

	// The consumed token again: invalid_grant, and the strict IdP revokes.
	_, err = f.client.Refresh(context.Background(), res.Tokens, res.Subject)
	if !errors.Is(err, ErrGrantInvalid) || !errors.Is(err, ErrRejected) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("reuse: err = %v, want ErrGrantInvalid", err)
	}
	if OAuthErrorCode(err) != "invalid_grant" {
		t.Errorf("OAuthErrorCode = %q", OAuthErrorCode(err))
	}
}

func TestRefreshErrors(t *testing.T) {
	t.Run("revoked at the IdP", func(t *testing.T) {
		f, _, res := signedIn(t)
		if n := f.idp.RevokeGrants(devidp.AliceID); n == 0 {
			t.Fatal("no grant revoked")
		}
		if _, err := f.client.Refresh(context.Background(), res.Tokens, res.Subject); !errors.Is(err, ErrGrantInvalid) {
			t.Fatalf("err = %v, want ErrGrantInvalid", err)
		}
	})
	t.Run("IdP down is transient", func(t *testing.T) {
		f, rec, res := signedIn(t)
		rec.down.Store(true)
		_, err := f.client.Refresh(context.Background(), res.Tokens, res.Subject)
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRejected) {
			t.Fatalf("err = %v, want ErrUnavailable only", err)
		}
		rec.down.Store(false)
		if _, err := f.client.Refresh(context.Background(), res.Tokens, res.Subject); err != nil {
			t.Fatalf("after the IdP came back: %v", err)
		}
	})
	t.Run("no refresh token", func(t *testing.T) {
		f, _, res := signedIn(t)
		tokens := res.Tokens
		tokens.RefreshToken = ""
		if _, err := f.client.Refresh(context.Background(), tokens, res.Subject); !errors.Is(err, ErrGrantInvalid) {
			t.Fatalf("err = %v, want ErrGrantInvalid", err)
		}
	})
}

// verifyAccessJWT checks a JWT access token with the IdP's JWKS and returns
// its claims.
func verifyAccessJWT(t *testing.T, f *fixture, raw, audience string) map[string]any {
	t.Helper()
	ctx := oidc.ClientContext(context.Background(), f.srv.Client())
	p, err := oidc.NewProvider(ctx, f.srv.URL+"/oidc")
	if err != nil {
		t.Fatal(err)
	}
	v := p.Verifier(&oidc.Config{ClientID: audience, Now: f.idpTime.Now, SupportedSigningAlgs: []string{oidc.ES384}})
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("access token does not verify for %s: %v", audience, err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestResourceAndOrganizationTokens(t *testing.T) {
	f, rec, res := signedIn(t)
	refresh := res.Tokens.RefreshToken
	tests := []struct {
		name, resource, org, aud string
	}{
		{"resource", devidp.DefaultResourceIndicator, "", devidp.DefaultResourceIndicator},
		{"organization", "", devidp.DefaultOrganizationID, "urn:logto:organization:" + devidp.DefaultOrganizationID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.requests())
			rt, next, err := f.client.ResourceToken(context.Background(), refresh, tt.resource, tt.org)
			if err != nil {
				t.Fatalf("ResourceToken: %v", err)
			}
			if next == "" || next == refresh {
				t.Error("strict provider: refresh token not rotated on a resource grant")
			}
			refresh = next
			claims := verifyAccessJWT(t, f, rt.AccessToken, tt.aud)
			if claims["sub"] != devidp.AliceID || claims["client_id"] != testClientID {
				t.Errorf("claims = %v", claims)
			}
			if want := f.bffTime.Now().Add(time.Hour); !rt.Expiry.Equal(want) {
				t.Errorf("expiry = %v, want %v", rt.Expiry, want)
			}
			r := rec.requests()[before]
			if tt.resource != "" && (r.form.Get("resource") != tt.resource || r.form.Has("organization_id")) {
				t.Errorf("form = %v", r.form)
			}
			if tt.org != "" && (r.form.Get("organization_id") != tt.org || r.form.Has("resource")) {
				t.Errorf("form = %v", r.form)
			}
		})
	}
	// A resource not requested at sign-in: rejected, but not the end of the
	// grant, and the refresh token is not consumed.
	_, _, err := f.client.ResourceToken(context.Background(), refresh, "https://other.example.test", "")
	if !errors.Is(err, ErrRejected) || errors.Is(err, ErrGrantInvalid) || OAuthErrorCode(err) != "invalid_target" {
		t.Fatalf("unknown resource: err = %v (code %q)", err, OAuthErrorCode(err))
	}
	if _, err := f.client.Refresh(context.Background(), Tokens{RefreshToken: refresh}, devidp.AliceID); err != nil {
		t.Fatalf("refresh after a rejected resource request: %v", err)
	}
	if st := f.idp.Stats(); st.RefreshReuse != 0 {
		t.Errorf("RefreshReuse = %d", st.RefreshReuse)
	}
}

func TestResourceKeyAndNeedsRefresh(t *testing.T) {
	for _, tt := range []struct{ res, org, want string }{
		{"https://a", "", "https://a"}, {"", "o1", "org:o1"}, {"https://a", "o1", "org:o1|https://a"},
	} {
		if got := ResourceKey(tt.res, tt.org); got != tt.want {
			t.Errorf("ResourceKey(%q, %q) = %q, want %q", tt.res, tt.org, got, tt.want)
		}
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		expiry time.Time
		want   bool
	}{
		{time.Time{}, false}, {now.Add(2 * time.Minute), false}, {now.Add(time.Minute), true}, {now.Add(30 * time.Second), true}, {now.Add(-time.Second), true},
	} {
		if got := NeedsRefresh(tt.expiry, now, time.Minute); got != tt.want {
			t.Errorf("NeedsRefresh(%v) = %v, want %v", tt.expiry, got, tt.want)
		}
	}
}

func TestLogoutVerifierFromDiscovery(t *testing.T) {
	f := newFixture(t, nil)
	v := f.client.LogoutVerifier(LogoutVerifierOptions{})
	if _, err := v.Verify(context.Background(), "a.b.c"); !errors.Is(err, ErrInvalidLogoutToken) {
		t.Fatalf("garbage: %v", err)
	}
}
