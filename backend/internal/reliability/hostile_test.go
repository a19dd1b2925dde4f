package reliability

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
)

// Hostile input against real processes. What the in-process suites of
// httpapi, authflow, session and proxy already prove is not repeated here
// (see the report's table); these add the unicode look-alikes, the
// multi-replica angles (state and cookies across replicas, a foreign
// secret), Host smuggling and the server's own header limit.

// safeLocation fails unless loc, as a browser would resolve it against
// the public URL (backslashes read as slashes, percent-decoding applied),
// stays on the BFF's origin and carries nothing invisible or control.
func safeLocation(t *testing.T, payload, loc string) {
	t.Helper()
	bad := func(why string) { t.Errorf("returnTo %q: landed on %q: %s", payload, loc, why) }
	if !strings.HasPrefix(loc, "/") {
		bad("not a path")
		return
	}
	for _, form := range []string{loc, strings.ReplaceAll(loc, `\`, "/")} {
		if strings.HasPrefix(form, "//") {
			bad("scheme-relative (another host)")
		}
	}
	base, _ := url.Parse(publicURL + "/")
	ref, err := url.Parse(loc)
	if err != nil {
		bad("unparsable")
		return
	}
	if res := base.ResolveReference(ref); res.Host != publicHost || res.Scheme != "http" {
		bad("resolves to " + res.Host)
	}
	for v, i := loc, 0; i < 4; i++ {
		for _, r := range v {
			if r < 0x20 || r == 0x7f || unicode.Is(unicode.Cf, r) || (r != ' ' && unicode.IsSpace(r)) {
				bad(fmt.Sprintf("carries %U", r))
				return
			}
		}
		dec, err := url.PathUnescape(v)
		if err != nil || dec == v {
			break
		}
		if strings.HasPrefix(dec, "//") || strings.HasPrefix(dec, `/\`) {
			bad("decodes to another host")
		}
		v = dec
	}
}

func TestHostileReturnToLookalikes(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	c := newCluster(t, clusterOptions{replicas: 2})
	payloads := []string{
		"/\u2215evil.com", "/%E2%88%95evil.com", "/\u2215\u2215evil.com",
		"/\uff0f\uff0fevil.com", "/%EF%BC%8F%EF%BC%8Fevil.com", "\uff0f\uff0fevil.com",
		"/%E2%80%8B//evil.com", "/\u200b//evil.com", "/\u200b/evil.com", "/\u2060//evil.com",
		"/\u3000/evil.com", "/%E3%80%80/evil.com", "/\u00a0//evil.com",
		"/\u202e/moc.live", "/\ufeff//evil.com", "/%EF%BB%BF//evil.com",
		"//evil.com", "///evil.com", "/\\evil.com", "\\\\evil.com", "/%5C%5Cevil.com", "/%2F%2Fevil.com",
		"/%252F%252Fevil.com", "/.//evil.com", "/./\\evil.com", "/..//evil.com",
		"https://evil.com", "https:evil.com", "http:/\\evil.com", "//evil.com@" + publicHost, "/@evil.com",
		"javascript:alert(1)", "jAvAsCrIpT:alert(1)", "/x\r\nLocation: http://evil.com", "/x%0d%0aSet-Cookie:%20a=b",
		"/%09/evil.com", "\t//evil.com", " //evil.com", "/ok#\u2215\u2215evil.com", "/ok?next=//evil.com",
	}
	u := c.alice()
	for _, p := range payloads {
		loc, err := u.signIn(ctx, p)
		if err != nil {
			t.Errorf("returnTo %q: %v", p, err)
			continue
		}
		safeLocation(t, p, loc)
	}
	// An honest deep link still works.
	if loc, err := u.signIn(ctx, "/settings/profile?tab=2#top"); err != nil || loc != "/settings/profile?tab=2#top" {
		t.Errorf("honest returnTo: %q %v", loc, err)
	}
}

func TestHostileStateAcrossReplicas(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	c := newCluster(t, clusterOptions{replicas: 2, users: 4})

	// Started on replica 0, completed on replica 1: the store is shared.
	a := c.newUser(userName(0), userPass(0))
	authURL, err := a.beginSignIn(pinned(ctx, 0), "returnTo=/a")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := a.callbackURL(ctx, authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp, body, err := a.do(pinned(ctx, 1), http.MethodGet, cb, nil)
	if err != nil || resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/a" {
		t.Fatalf("callback on the other replica = %v %s", statusOf(resp), body)
	}
	// Replayed on replica 0: refused, the session unchanged.
	cookie := a.sessionCookie()
	resp, body, err = a.do(pinned(ctx, 0), http.MethodGet, cb, nil, "Accept", "application/json")
	if err != nil || resp.StatusCode != http.StatusBadRequest || !contains(body, `"invalid_state"`) {
		t.Errorf("replayed callback on the other replica = %v %s", statusOf(resp), body)
	}
	if a.sessionCookie() != cookie {
		t.Error("a replayed callback changed the session")
	}

	// The same callback raced on both replicas at once: exactly one wins.
	b := c.newUser(userName(1), userPass(1))
	authURL, err = b.beginSignIn(ctx, "returnTo=/b")
	if err != nil {
		t.Fatal(err)
	}
	if cb, err = b.callbackURL(ctx, authURL); err != nil {
		t.Fatal(err)
	}
	grants := c.idp.provider.Stats().AuthCodeGrants
	statuses := make([]int, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _, err := b.do(pinned(ctx, i), http.MethodGet, cb, nil, "Accept", "application/json")
			if err == nil {
				statuses[i] = resp.StatusCode
			}
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		if s == http.StatusSeeOther {
			ok++
		} else if s != http.StatusBadRequest {
			t.Errorf("raced callback answered %d", s)
		}
	}
	if ok != 1 || c.idp.provider.Stats().AuthCodeGrants != grants+1 {
		t.Errorf("raced callback: statuses %v, %d code exchanges; want exactly one success and one exchange", statuses, c.idp.provider.Stats().AuthCodeGrants-grants)
	}

	// Started in browser A, completed in browser B (login CSRF): refused
	// on either replica, and A can still complete it.
	victim := c.newUser(userName(2), userPass(2))
	if authURL, err = victim.beginSignIn(pinned(ctx, 0), "returnTo=/v"); err != nil {
		t.Fatal(err)
	}
	if cb, err = victim.callbackURL(ctx, authURL); err != nil {
		t.Fatal(err)
	}
	attacker := c.newUser(userName(3), userPass(3))
	for i := range 2 {
		resp, body, err := attacker.do(pinned(ctx, i), http.MethodGet, cb, nil, "Accept", "application/json")
		if err != nil || resp.StatusCode != http.StatusBadRequest || !contains(body, `"invalid_state"`) || attacker.sessionCookie() != "" {
			t.Errorf("cross-browser callback on bff%d = %v %s (attacker cookie %v)", i, statusOf(resp), body, attacker.sessionCookie() != "")
		}
	}
	if resp, _, err := victim.do(pinned(ctx, 1), http.MethodGet, cb, nil); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the victim's own callback afterwards = %v", statusOf(resp))
	}

	// Forged states, with and without a binding cookie.
	for _, st := range []string{"forged", strings.Repeat("A", 43), strings.Repeat("x", 5000), "%00", "a\r\nb"} {
		q := url.Values{"code": {"c0de-c0de-c0de-c0de"}, "state": {st}, "iss": {c.idp.issuer()}}
		for i := range 2 {
			resp, body, err := victim.do(pinned(ctx, i), http.MethodGet, "/auth/callback?"+q.Encode(), nil, "Accept", "application/json")
			if err != nil || resp.StatusCode != http.StatusBadRequest || !contains(body, `"invalid_state"`) {
				t.Errorf("forged state %.10q on bff%d = %v %s", st, i, statusOf(resp), body)
			}
		}
	}
}

func TestHostileCookiesAcrossReplicasAndSecrets(t *testing.T) {
	ctx := deadline(t, 60*time.Second)
	c := newCluster(t, clusterOptions{replicas: 2, users: 2})
	// A BFF configured with another session secret, on the same Redis and
	// IdP client: its cookies name sessions that exist in the shared store.
	otherSecret := randomHex(32)
	c.sec.add("session secret", otherSecret)
	foreign := c.startExtraReplica("foreign", map[string]string{"BFF_SESSION_SECRET": otherSecret})
	fbal := newBalancer([]*replica{foreign}, c.sec, 8)
	t.Cleanup(fbal.closeIdle)
	fc := &cluster{t: t, idp: c.idp, replicas: []*replica{foreign}, bal: fbal, sec: c.sec}
	fc.waitReady(ctx)

	mallory := fc.newUser(userName(0), userPass(0))
	if _, err := mallory.signIn(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := mallory.me(ctx, 0); code != http.StatusOK {
		t.Fatalf("foreign replica's own session = %d", code)
	}
	alice := c.newUser(userName(1), userPass(1))
	if _, err := alice.signIn(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	// The foreign cookie on our replicas, ours on the foreign one: refused.
	probe := c.newUser("probe", "")
	probe.setCookie(sessionCookie, mallory.sessionCookie())
	expectEverywhere(ctx, t, c, []*user{probe}, http.StatusUnauthorized, "unauthorized")
	fprobe := fc.newUser("probe", "")
	fprobe.setCookie(sessionCookie, alice.sessionCookie())
	if code, m, _ := fprobe.me(ctx, 0); code != http.StatusUnauthorized || errorCode(m) != "unauthorized" {
		t.Errorf("our cookie on the foreign replica = %d %v", code, m)
	}

	// Tampered in transit on the way to the other replica, truncated,
	// oversized, another cookie's value, the id alone (unsigned).
	real := alice.sessionCookie()
	flipped := []byte(real)
	flipped[len(flipped)/3] ^= 0x01
	id, _ := sessionIDFromCookie(real)
	for _, v := range []string{string(flipped), real[:len(real)-1], real + real, strings.Repeat("A", 5000), id} {
		p := c.newUser("probe", "")
		p.setCookie(sessionCookie, v)
		expectEverywhere(ctx, t, c, []*user{p}, http.StatusUnauthorized, "unauthorized")
	}
	expectEverywhere(ctx, t, c, []*user{alice}, http.StatusOK, "")

	// Signed out on replica 1: the copied cookie is dead on replica 0.
	stolen := c.newUser("thief", "")
	stolen.setCookie(sessionCookie, real)
	if err := alice.signOut(pinned(ctx, 1)); err != nil {
		t.Fatal(err)
	}
	expectEverywhere(ctx, t, c, []*user{stolen}, http.StatusUnauthorized, "unauthorized")
}

func TestHostileCSRFHeaderAndSignOutOrigin(t *testing.T) {
	ctx := deadline(t, 30*time.Second)
	c := newCluster(t, clusterOptions{replicas: 2})
	u := c.alice()
	if _, err := u.signIn(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	for i := range c.replicas {
		for _, v := range []string{"", "0", "true", "yes", "11", "1,1", "%31", "1\x00"} {
			req, _ := http.NewRequestWithContext(pinned(ctx, i), http.MethodGet, bffURL("/api/me"), nil)
			req.Header["X-Csrf"] = []string{v}
			resp, err := u.direct.Do(req)
			if err != nil {
				// Go's client refuses to send a NUL in a header: not an attack surface.
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("bff%d X-CSRF %q: %d, want 403", i, v, resp.StatusCode)
			}
		}
		// Two headers, the first wrong.
		req, _ := http.NewRequestWithContext(pinned(ctx, i), http.MethodGet, bffURL("/api/me"), nil)
		req.Header["X-Csrf"] = []string{"0", "1"}
		if resp, err := u.direct.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("bff%d X-CSRF 0 then 1: %v", i, statusOf(resp))
		} else {
			resp.Body.Close()
		}
		if code, _, _ := u.me(ctx, i); code != http.StatusOK {
			t.Errorf("bff%d X-CSRF 1: %d", i, code)
		}
		// Cross-site sign-out (a form on another site posting to us):
		// refused on every replica, the session and the grant untouched.
		revocations := c.idp.provider.Stats().Revocations
		for _, h := range [][]string{
			{"Origin", "http://evil.example"}, {"Origin", "null"}, {"Origin", "https://" + publicHost},
			{"Origin", publicURL + ".evil.example"}, {"Origin", publicURL + ":80"}, {"Origin", ""},
			{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "same-site"}, {"Origin", "http://evil.example", "Sec-Fetch-Site", "same-origin"},
		} {
			resp, body, err := u.do(pinned(ctx, i), http.MethodPost, "/auth/sign-out", strings.NewReader(""),
				append([]string{"Content-Type", "application/x-www-form-urlencoded", "Accept", "application/json"}, h...)...)
			if err != nil || resp.StatusCode != http.StatusForbidden || !contains(body, `"forbidden_origin"`) || resp.Header.Get("Location") != "" {
				t.Errorf("bff%d sign-out with %q = %v %s", i, h, statusOf(resp), body)
			}
		}
		if code, _, _ := u.me(ctx, i); code != http.StatusOK || c.idp.provider.Stats().Revocations != revocations {
			t.Errorf("bff%d: a refused sign-out ended the session (%d) or revoked the grant", i, code)
		}
	}
}

// rawRequest writes req verbatim to a replica and returns the status line
// and headers of the answer.
func rawRequest(t *testing.T, r *replica, req string) (int, http.Header) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", r.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = conn.Write([]byte(req)) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: no HTTP answer: %v", r.name, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func TestHostileHostSmugglingAndHeaderLimits(t *testing.T) {
	ctx := deadline(t, 30*time.Second)
	c := newCluster(t, clusterOptions{replicas: 2})
	for i, r := range c.replicas {
		// Host, X-Forwarded-* and an absolute request target never change
		// the redirect URI the BFF sends to Logto.
		for _, req := range []string{
			"GET /auth/sign-in HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nForwarded: host=evil.example\r\n\r\n",
			"GET http://evil.example/auth/sign-in HTTP/1.1\r\nHost: evil.example\r\n\r\n",
		} {
			code, h := rawRequest(t, r, req)
			loc, _ := url.Parse(h.Get("Location"))
			if code != http.StatusFound || loc == nil || loc.Query().Get("redirect_uri") != callbackURL {
				t.Errorf("%s: smuggled host: %d redirect_uri %q", r.name, code, loc.Query().Get("redirect_uri"))
			}
		}
		// Two Host headers, a space before the colon: refused by the
		// server. (Content-Length with Transfer-Encoding is accepted as
		// chunked, as RFC 9112 allows; no proxy in front disagrees.)
		for _, req := range []string{
			"GET /healthz HTTP/1.1\r\nHost: " + publicHost + "\r\nHost: evil.example\r\n\r\n",
			"GET /healthz HTTP/1.1\r\nHost : evil.example\r\n\r\n",
		} {
			if code, _ := rawRequest(t, r, req); code != http.StatusBadRequest {
				t.Errorf("%s: malformed request %.60q answered %d, want 400", r.name, req, code)
			}
		}
		// Sign-out with the attacker's Host and Origin matching each other.
		req := "POST /auth/sign-out HTTP/1.1\r\nHost: evil.example\r\nOrigin: http://evil.example\r\nContent-Length: 0\r\n\r\n"
		if code, _ := rawRequest(t, r, req); code != http.StatusForbidden {
			t.Errorf("%s: sign-out from evil.example with Host evil.example = %d, want 403", r.name, code)
		}
		// Oversized headers: 431 from the server, before any handler.
		big := "GET /api/me HTTP/1.1\r\nHost: " + publicHost + "\r\nX-CSRF: 1\r\nCookie: bff-session=" + strings.Repeat("A", 64<<10) + "\r\n\r\n"
		if code, _ := rawRequest(t, r, big); code != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s: 64 KiB cookie header = %d, want 431", r.name, code)
		}
		var many strings.Builder
		many.WriteString("GET /healthz HTTP/1.1\r\nHost: " + publicHost + "\r\n")
		for j := range 2000 {
			fmt.Fprintf(&many, "X-H%d: %s\r\n", j, strings.Repeat("v", 20))
		}
		many.WriteString("\r\n")
		if code, _ := rawRequest(t, r, many.String()); code != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s: 2000 headers = %d, want 431", r.name, code)
		}
		// Oversized bodies: 413 JSON on sign-out and back-channel logout,
		// declared or chunked.
		u := c.newUser("nobody", "")
		for _, path := range []string{"/auth/sign-out", "/auth/backchannel-logout"} {
			body := "logout_token=" + strings.Repeat("a", 1<<20)
			resp, b, err := u.do(pinned(ctx, i), http.MethodPost, path, strings.NewReader(body),
				"Origin", publicURL, "Content-Type", "application/x-www-form-urlencoded", "Accept", "application/json")
			if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || !contains(b, `"payload_too_large"`) {
				t.Errorf("%s: 1 MiB body to %s = %v %.100s", r.name, path, statusOf(resp), b)
			}
		}
		resp, b, err := u.do(pinned(ctx, i), http.MethodPost, "/auth/backchannel-logout", struct{ *strings.Reader }{strings.NewReader("logout_token=" + strings.Repeat("a", 1<<20))},
			"Content-Type", "application/x-www-form-urlencoded")
		if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: 1 MiB chunked body to the back-channel = %v %.100s", r.name, statusOf(resp), b)
		}
	}
}
