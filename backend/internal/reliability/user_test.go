package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
)

// user is one simulated browser: its own cookie jar, every request through
// the cluster's balancer.
type user struct {
	c          *cluster
	name, pass string
	jar        http.CookieJar
	follow     *http.Client // follows redirects, except to BFF pages outside /auth
	direct     *http.Client // never follows redirects
}

const sessionCookie = "bff-session"

func (c *cluster) newUser(name, pass string) *user {
	jar, _ := cookiejar.New(nil)
	u := &user{c: c, name: name, pass: pass, jar: jar}
	u.follow = &http.Client{Jar: jar, Transport: c.bal, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > 10 {
				return fmt.Errorf("too many redirects")
			}
			if req.URL.Hostname() == publicHost && !strings.HasPrefix(req.URL.Path, "/auth/") {
				return http.ErrUseLastResponse
			}
			return nil
		}}
	u.direct = &http.Client{Jar: jar, Transport: c.bal, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return u
}

func (c *cluster) alice() *user { return c.newUser(devidp.AliceUsername, devidp.AlicePassword) }

// do sends one request (never following redirects) and reads the body.
func (u *user) do(ctx context.Context, method, path string, body io.Reader, header ...string) (*http.Response, []byte, error) {
	target := path
	if !strings.HasPrefix(path, "http") {
		target = bffURL(path)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := u.direct.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp, b, err
}

// beginSignIn asks the BFF to start a sign-in and returns the IdP's
// authorization URL.
func (u *user) beginSignIn(ctx context.Context, query string) (string, error) {
	resp, body, err := u.do(ctx, http.MethodGet, "/auth/sign-in?"+query, nil)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("GET /auth/sign-in: %d %.200s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location"), nil
}

// signIn runs the whole flow: /auth/sign-in, the IdP's form, the callback.
// It returns the callback's redirect target.
func (u *user) signIn(ctx context.Context, returnTo string) (string, error) {
	authURL, err := u.beginSignIn(ctx, "returnTo="+url.QueryEscape(returnTo))
	if err != nil {
		return "", err
	}
	resp, err := devidptest.SignIn(ctx, u.follow, authURL, u.name, u.pass)
	if err != nil {
		return "", fmt.Errorf("sign in: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Request.URL.Path != "/auth/callback" {
		return "", fmt.Errorf("sign-in ended with %d at %s: %.300s", resp.StatusCode, resp.Request.URL.Path, body)
	}
	if u.sessionCookie() == "" {
		return "", fmt.Errorf("no session cookie after the callback")
	}
	return resp.Header.Get("Location"), nil
}

// callbackURL runs the IdP's form but stops before the callback, returning
// the callback URL (with code and state) the browser would open.
func (u *user) callbackURL(ctx context.Context, authURL string) (string, error) {
	stop := *u.follow
	stop.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Hostname() == publicHost {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := devidptest.SignIn(ctx, &stop, authURL, u.name, u.pass)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || loc.Path != "/auth/callback" {
		return "", fmt.Errorf("IdP answered %d without a redirect to the callback", resp.StatusCode)
	}
	u.c.sec.add("authorization code", loc.Query().Get("code"))
	return loc.String(), nil
}

// me calls GET /api/me with X-CSRF: 1 (on replica pin, or any when pin < 0).
func (u *user) me(ctx context.Context, pin int) (int, map[string]any, error) {
	if pin >= 0 {
		ctx = pinned(ctx, pin)
	}
	resp, body, err := u.do(ctx, http.MethodGet, "/api/me", nil, "X-CSRF", "1")
	if err != nil {
		return 0, nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("/api/me %d: not JSON: %.200s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return resp.StatusCode, m, fmt.Errorf("/api/me %d: Content-Type %q", resp.StatusCode, ct)
	}
	return resp.StatusCode, m, nil
}

// signOut posts the sign-out form as the SPA does (same Origin) and
// confirms at the IdP; it checks the BFF sent the browser to Logto.
func (u *user) signOut(ctx context.Context) error {
	resp, body, err := u.do(ctx, http.MethodPost, "/auth/sign-out", strings.NewReader(""),
		"Origin", publicURL, "Content-Type", "application/x-www-form-urlencoded")
	if err != nil {
		return err
	}
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, u.c.idp.issuer()+"/session/end") {
		return fmt.Errorf("POST /auth/sign-out: %d %q %.200s", resp.StatusCode, loc, body)
	}
	if u.sessionCookie() != "" {
		return fmt.Errorf("sign-out left the session cookie in the browser")
	}
	end, err := devidptest.SignOut(ctx, u.follow, loc)
	if err != nil {
		return fmt.Errorf("IdP sign-out: %w", err)
	}
	end.Body.Close()
	return nil
}

// sessionCookie is the browser's session cookie value, or "".
func (u *user) sessionCookie() string {
	pu, _ := url.Parse(publicURL)
	for _, c := range u.jar.Cookies(pu) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

// setCookie replaces a cookie in the browser.
func (u *user) setCookie(name, value string) {
	pu, _ := url.Parse(publicURL)
	u.jar.SetCookies(pu, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// errorCode is the "error" member of a JSON error body.
func errorCode(m map[string]any) string {
	s, _ := m["error"].(string)
	return s
}
