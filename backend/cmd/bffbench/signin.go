package main

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

// sessionCookieName is the BFF's cookie on plain http (BFF_COOKIE_SECURE=false).
const sessionCookieName = "bff-session"

// browser is a cookie-jar client that follows redirects to the IdP and the
// BFF's /auth routes and stops at any other BFF page (where the SPA would
// load), like the httpapi tests' browser.
type browser struct {
	bff        *url.URL // the BFF, or oauth2-proxy
	client     *http.Client
	jar        http.CookieJar
	cookieName string // the session cookie's name
	username   string // who signs in with the IdP's form (default alice; password alice's)
}

// newBrowser is a browser for the BFF at bffURL; unless keepSession, it
// never keeps the BFF's session cookie (see forgetfulJar).
func newBrowser(bffURL string, keepSession bool) (*browser, error) {
	return newBrowserFor(bffURL, "/auth/", sessionCookieName, keepSession)
}

// newBrowserFor is a browser for a server at serverURL whose sign-in
// routes start with authPrefix and whose session cookie is cookieName.
func newBrowserFor(serverURL, authPrefix, cookieName string, keepSession bool) (*browser, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, err
	}
	jar, _ := cookiejar.New(nil)
	var j http.CookieJar = jar
	if !keepSession {
		j = forgetfulJar{jar}
	}
	b := &browser{bff: u, jar: j, cookieName: cookieName, username: devidp.AliceUsername}
	b.client = &http.Client{
		Jar: j, Timeout: 15 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 4},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > 10 {
				return http.ErrUseLastResponse
			}
			if req.URL.Host == u.Host && !strings.HasPrefix(req.URL.Path, authPrefix) {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return b, nil
}

// forgetfulJar never keeps the BFF's session cookie: each sign-in through
// the same browser then creates a new session (a present cookie would make
// the callback replace the old session), while the IdP's own cookies keep
// its SSO session, so later sign-ins need no form.
type forgetfulJar struct{ http.CookieJar }

func (j forgetfulJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	kept := cookies[:0:0]
	for _, c := range cookies {
		if c.Name != sessionCookieName {
			kept = append(kept, c)
		}
	}
	j.CookieJar.SetCookies(u, kept)
}

// signIn runs the whole sign-in through the BFF: /auth/sign-in, the IdP's
// form as b.username (or "Continue with Discord" as nelly), the callback. It
// requires the callback's 303 to "/".
func (b *browser) signIn(ctx context.Context, discord bool) error {
	resp, err := b.signInAt(ctx, b.bff.String()+"/auth/sign-in?returnTo=%2F", discord)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Request.URL.Path != "/auth/callback" || resp.Header.Get("Location") != "/" {
		return fmt.Errorf("sign in: ended with %d at %s (Location %q), want the callback's 303 to /",
			resp.StatusCode, resp.Request.URL.Path, resp.Header.Get("Location"))
	}
	return nil
}

// signInAt opens start (a route that redirects to the IdP) and signs in
// there; it returns the last response, its body already drained.
func (b *browser) signInAt(ctx context.Context, start string, discord bool) (*http.Response, error) {
	var (
		resp *http.Response
		err  error
	)
	if discord {
		resp, err = devidptest.SignInWithDiscord(ctx, b.client, start)
	} else {
		resp, err = devidptest.SignIn(ctx, b.client, start, b.username, devidp.AlicePassword)
	}
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// cookieHeader is the Cookie header carrying the session cookie.
func (b *browser) cookieHeader() (string, error) {
	for _, c := range b.jar.Cookies(b.bff) {
		if c.Name == b.cookieName {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", fmt.Errorf("no %s cookie after sign-in", b.cookieName)
}

// checkMe GETs /api/me with cookie and requires 200 with user.sub == sub.
func checkMe(ctx context.Context, bffURL, cookie, sub string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, bffURL+"/api/me", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Cookie", cookie)
	req.Header.Set("X-CSRF", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		User struct {
			Sub string `json:"sub"`
		} `json:"user"`
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/api/me answered %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("/api/me: %w", err)
	}
	if body.User.Sub != sub {
		return fmt.Errorf("/api/me: user.sub %q, want %q", body.User.Sub, sub)
	}
	return nil
}

// checkGet GETs url with headers and requires 200.
func checkGet(ctx context.Context, t target) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return err
	}
	for k, v := range t.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s answered %d", t.url, resp.StatusCode)
	}
	return nil
}
