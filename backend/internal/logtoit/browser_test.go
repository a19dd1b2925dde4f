package logtoit

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// browser is one cookie jar, as a person's browser: it reaches the BFF,
// Logto and (with discord.com and cdn.discordapp.com resolved to 127.0.0.1
// and the local test CA trusted) the fake Discord. It never follows a
// redirect by itself.
type browser struct {
	t      *testing.T
	c      *http.Client
	jar    *rawJar
	logto  string // Logto's endpoint
	origin string // the BFF's public URL
}

// rawJar keeps cookies as browsers do, by host (ports ignored) and path.
// net/http's cookie parser drops Logto's _logto and _interaction cookies,
// whose values are JSON ({"appId":"..."}: quotes and commas), so
// net/http/cookiejar cannot carry a sign-in through Logto.
type rawJar struct {
	cookies map[string]map[string]rawCookie // host → name → cookie
}

type rawCookie struct{ value, path string }

// store records the Set-Cookie headers of an answer to u.
func (j *rawJar) store(u *url.URL, h http.Header) {
	host := u.Hostname()
	if j.cookies[host] == nil {
		j.cookies[host] = map[string]rawCookie{}
	}
	for _, line := range h.Values("Set-Cookie") {
		parts := strings.Split(line, ";")
		name, value, ok := strings.Cut(parts[0], "=")
		if !ok {
			continue
		}
		c := rawCookie{value: strings.TrimSpace(value), path: "/"}
		expired := false
		for _, attr := range parts[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(attr), "=")
			switch strings.ToLower(k) {
			case "path":
				c.path = v
			case "max-age":
				expired = expired || v == "0" || strings.HasPrefix(v, "-")
			case "expires":
				if t, err := http.ParseTime(v); err == nil && t.Before(time.Now()) {
					expired = true
				}
			}
		}
		if expired {
			delete(j.cookies[host], strings.TrimSpace(name))
		} else {
			j.cookies[host][strings.TrimSpace(name)] = c
		}
	}
}

// header is the Cookie header for a request to u.
func (j *rawJar) header(u *url.URL) string {
	var pairs []string
	for name, c := range j.cookies[u.Hostname()] {
		if strings.HasPrefix(u.Path, c.path) || c.path == "/" {
			pairs = append(pairs, name+"="+c.value)
		}
	}
	return strings.Join(pairs, "; ")
}

func newBrowser(t *testing.T, l *logto, bffURL string) *browser {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(l.dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("pki/ca.crt holds no certificate")
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, _ := net.SplitHostPort(addr)
			if host == "discord.com" || host == "cdn.discordapp.com" {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{t: t, logto: l.env["LOGTO_ENDPOINT"], origin: bffURL, jar: &rawJar{cookies: map[string]map[string]rawCookie{}}, c: &http.Client{
		Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is an answer: status, final URL, Location and body.
type page struct {
	status   int
	url      *url.URL
	location *url.URL
	body     []byte
	header   http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	if c := b.jar.header(req.URL); c != "" {
		req.Header.Set("Cookie", c)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	b.jar.store(req.URL, resp.Header)
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	p := page{status: resp.StatusCode, url: req.URL, body: body, header: resp.Header}
	if loc := resp.Header.Get("Location"); loc != "" {
		p.location, _ = req.URL.Parse(loc)
	}
	return p
}

func (b *browser) get(raw string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, raw, nil)
	return b.do(req)
}

// follow GETs raw and every redirect after it until an answer that is not
// a redirect, or until stop says to stop at a Location (not requested);
// it returns the last answer and every URL it requested.
func (b *browser) follow(raw string, stop func(*url.URL) bool) (page, []string) {
	b.t.Helper()
	var seen []string
	p := b.get(raw)
	seen = append(seen, raw)
	for n := 0; p.status >= 300 && p.status < 400 && p.location != nil; n++ {
		if n > 20 {
			b.t.Fatalf("too many redirects: %v", seen)
		}
		if stop != nil && stop(p.location) {
			return p, seen
		}
		seen = append(seen, p.location.String())
		p = b.get(p.location.String())
	}
	return p, seen
}

// api sends a JSON request to the BFF's /api with X-CSRF: 1.
func (b *browser) api(method, path string) page {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.origin+path, nil)
	req.Header.Set("X-CSRF", "1")
	return b.do(req)
}

// experience calls Logto's Experience API (what its sign-in page does).
func (b *browser) experience(method, path string, in any) (int, map[string]any) {
	b.t.Helper()
	var body io.Reader
	if in != nil {
		j, _ := json.Marshal(in)
		body = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, b.logto+"/api/experience"+path, body)
	req.Header.Set("Content-Type", "application/json")
	p := b.do(req)
	var out map[string]any
	_ = json.Unmarshal(p.body, &out)
	return p.status, out
}

func (b *browser) mustExperience(method, path string, in any) map[string]any {
	b.t.Helper()
	st, out := b.experience(method, path, in)
	if st >= 300 {
		b.t.Fatalf("%s /api/experience%s: %d %v", method, path, st, out)
	}
	return out
}

// startSignIn follows the BFF's /auth/sign-in to Logto's sign-in page.
func (b *browser) startSignIn() {
	b.t.Helper()
	p, seen := b.follow(b.origin+"/auth/sign-in", nil)
	if p.status != http.StatusOK || !strings.HasPrefix(p.url.String(), b.logto+"/sign-in") {
		b.t.Fatalf("sign-in did not reach Logto's sign-in page: %d %s (via %v)", p.status, p.url.Redacted(), redactAll(seen))
	}
}

// finish submits the interaction and follows Logto's redirects to the
// BFF's callback and on, until a page; it returns the URLs requested.
func (b *browser) finish() []string {
	b.t.Helper()
	out := b.mustExperience(http.MethodPost, "/submit", nil)
	to, _ := out["redirectTo"].(string)
	if to == "" {
		b.t.Fatalf("submit: no redirectTo: %v", out)
	}
	p, seen := b.follow(to, nil)
	if p.status >= 400 {
		b.t.Fatalf("after submit: %d at %s: %.300s (via %v)", p.status, p.url.Redacted(), p.body, redactAll(seen))
	}
	if !containsPrefix(seen, b.origin+"/auth/callback?") {
		b.t.Fatalf("never reached the BFF's callback: %v", redactAll(seen))
	}
	return seen
}

// signInWithPassword is a password sign-in through Logto's Experience API.
func (b *browser) signInWithPassword(username, password string) {
	b.t.Helper()
	b.startSignIn()
	b.mustExperience(http.MethodPut, "", map[string]any{"interactionEvent": "SignIn"})
	v := b.mustExperience(http.MethodPost, "/verification/password", map[string]any{
		"identifier": map[string]any{"type": "username", "value": username}, "password": password,
	})
	b.mustExperience(http.MethodPost, "/identification", map[string]any{"verificationId": v["verificationId"]})
	b.finish()
}

var authorizeHref = regexp.MustCompile(`id="authorize" data-href="([^"]+)"`)

// signInWithDiscord is "Continue with Discord" on Logto's sign-in page: the
// real Discord connector, the fake Discord's Authorize button, and
// registration when the Discord account is new.
func (b *browser) signInWithDiscord(connectorID string) {
	b.t.Helper()
	b.startSignIn()
	b.mustExperience(http.MethodPut, "", map[string]any{"interactionEvent": "SignIn"})
	state := randomHex(8)
	callback := b.logto + "/callback/" + connectorID
	v := b.mustExperience(http.MethodPost, "/verification/social/"+connectorID+"/authorization-uri", map[string]any{"state": state, "redirectUri": callback})
	authURI, _ := v["authorizationUri"].(string)
	if !strings.HasPrefix(authURI, "https://discord.com/") {
		b.t.Fatalf("authorization URI %q is not Discord's", authURI)
	}
	p := b.get(authURI)
	m := authorizeHref.FindSubmatch(p.body)
	if p.status != http.StatusOK || m == nil || !bytes.Contains(p.body, []byte("Authorize LogtoAuth")) {
		b.t.Fatalf("fake Discord's authorize page: %d %.300s", p.status, p.body)
	}
	approve, _ := p.url.Parse(html.UnescapeString(string(m[1])))
	p = b.get(approve.String())
	if p.location == nil || !strings.HasPrefix(p.location.String(), callback+"?") {
		b.t.Fatalf("Authorize did not send the browser back to Logto's callback: %d %v", p.status, p.location)
	}
	q := p.location.Query()
	if q.Get("state") != state || q.Get("code") == "" {
		b.t.Fatal("Discord's callback lacks the code or the state")
	}
	v = b.mustExperience(http.MethodPost, "/verification/social/"+connectorID+"/verify", map[string]any{
		"verificationId": v["verificationId"],
		"connectorData":  map[string]any{"code": q.Get("code"), "state": state, "redirectUri": callback},
	})
	st, out := b.experience(http.MethodPost, "/identification", map[string]any{"verificationId": v["verificationId"]})
	if st == http.StatusNotFound && out["code"] == "user.identity_not_exist" {
		// A new Discord account: Logto's page registers it.
		b.mustExperience(http.MethodPut, "/interaction-event", map[string]any{"interactionEvent": "Register"})
		st, out = b.experience(http.MethodPost, "/identification", map[string]any{"verificationId": v["verificationId"]})
	}
	if st >= 300 {
		b.t.Fatalf("identification with Discord: %d %v", st, out)
	}
	b.finish()
}

// signOut posts the BFF's sign-out form and follows Logto's end session
// (its page auto-submits a confirmation form) back to the BFF.
func (b *browser) signOut() []string {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.origin+"/auth/sign-out", nil)
	req.Header.Set("Origin", b.origin)
	p := b.do(req)
	if p.status != http.StatusSeeOther || p.location == nil || !strings.HasPrefix(p.location.String(), b.logto+"/oidc/session/end") {
		b.t.Fatalf("sign-out: %d %v", p.status, p.location)
	}
	return b.endSession(p.location.String())
}

var (
	logoutAction = regexp.MustCompile(`action="([^"]+)"`)
	logoutXSRF   = regexp.MustCompile(`name="xsrf" value="([^"]+)"`)
)

// endSession follows Logto's end session at raw: its page, the confirmation
// POST, and the redirects back to the post sign-out URI.
func (b *browser) endSession(raw string) []string {
	b.t.Helper()
	p, seen := b.follow(raw, nil)
	a, x := logoutAction.FindSubmatch(p.body), logoutXSRF.FindSubmatch(p.body)
	if p.status != http.StatusOK || a == nil || x == nil {
		b.t.Fatalf("end session page: %d %.300s", p.status, p.body)
	}
	action, _ := p.url.Parse(html.UnescapeString(string(a[1])))
	form := url.Values{"xsrf": {string(x[1])}, "logout": {"yes"}}
	req, _ := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	p = b.do(req)
	seen = append(seen, action.String())
	if p.location == nil {
		b.t.Fatalf("end session confirmation: %d %.300s", p.status, p.body)
	}
	_, more := b.follow(p.location.String(), nil)
	return append(seen, more...)
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// redactAll drops query strings (codes, states) from URLs for messages.
func redactAll(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i], _, _ = strings.Cut(u, "?")
	}
	return out
}
