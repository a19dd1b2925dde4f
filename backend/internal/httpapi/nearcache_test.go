package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/config"
	"github.com/logto-bff/bff/backend/internal/store"
)

// The near-cache's invalidation window, measured with two replicas (A =
// node 0, B = node 1) sharing one redis-server, each with its own
// near-cache: a session is ended through A (sign-out, a back-channel
// logout, expiry), then B is asked GET /api/me with the ended session's
// cookie at once and repeatedly. The window is the time from A's answer
// to B's first 401. B must never answer 200 to a request sent more than
// staleLimit after A answered.
const (
	windowTrials = 500
	staleLimit   = 50 * time.Millisecond
	// pollFor bounds one trial's polling of B.
	pollFor = 2 * time.Second
)

// nearCacheEntries is each node's near-cache size in these tests.
const nearCacheEntries = 1000

// windowResult collects one kind of ending's trials.
type windowResult struct {
	windows []time.Duration // A's answer → B's first 401
	stale   int             // 200s from B to requests sent after A's answer
	late    int             // of those, sent more than staleLimit after it
}

func (w *windowResult) report(t *testing.T, what string) {
	t.Helper()
	s := slices.Clone(w.windows)
	slices.Sort(s)
	pct := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	line := fmt.Sprintf("near-cache window, %s: %d trials: A's answer → B's first 401 p50 %v, p99 %v, max %v; B answered 200 after A's answer %d times (%d later than %v)",
		what, len(s), pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), s[len(s)-1].Round(time.Microsecond), w.stale, w.late, staleLimit)
	t.Log(line)
	if path := os.Getenv("BFF_WINDOW_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
	if w.late > 0 {
		t.Errorf("B served an ended session %d times more than %v after A answered", w.late, staleLimit)
	}
}

// poller asks one node GET /api/me with a fixed cookie, on its own
// keep-alive connection (not the browser's: the cookie jar no longer
// holds an ended session's cookie).
type poller struct {
	client *http.Client
	url    string
	cookie string
}

func newPoller(n *node, cookie string) *poller {
	return &poller{client: &http.Client{Timeout: 5 * time.Second}, url: n.publicURL() + "/api/me", cookie: cookie}
}

// get sends one request and returns the status and when it was sent.
func (p *poller) get(t *testing.T) (int, time.Time) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.url, nil)
	req.Header.Set("X-CSRF", "1")
	req.Header.Set("Cookie", "bff-session="+p.cookie)
	sent := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, sent
}

// warm makes B hold the session in its near-cache: two 200s, the second
// a cache hit.
func (p *poller) warm(t *testing.T, st *store.Redis) {
	t.Helper()
	before := st.NearCacheStats().Hits
	for range 2 {
		if code, _ := p.get(t); code != http.StatusOK {
			t.Fatalf("B before the ending: %d", code)
		}
	}
	if st.NearCacheStats().Hits == before {
		t.Fatal("B's second /api/me was not served from its near-cache")
	}
}

// watch polls B from answered (A's answer) until the first 401 and adds
// the trial to w.
func (p *poller) watch(t *testing.T, answered time.Time, w *windowResult) {
	t.Helper()
	for {
		code, sent := p.get(t)
		switch code {
		case http.StatusUnauthorized:
			w.windows = append(w.windows, time.Since(answered))
			return
		case http.StatusOK:
			w.stale++
			if sent.Sub(answered) > staleLimit {
				w.late++
			}
		default:
			t.Fatalf("B answered %d", code)
		}
		if time.Since(answered) > pollFor {
			t.Fatalf("B still serves the session %v after A ended it", pollFor)
		}
	}
}

func windowCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("500 sign-ins")
	}
	return newCluster(t, clusterOptions{nodes: 2, nearCache: nearCacheEntries})
}

// signOutAt signs the browser out through node i (the SPA's JSON
// sign-out) and returns when the node's answer arrived.
func (b *cbrowser) signOutAt(t *testing.T, i int) time.Time {
	t.Helper()
	resp, _ := b.do(t, i, http.MethodPost, "/auth/sign-out", "Origin", b.cl.nodes[i].publicURL())
	answered := time.Now()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out on node %d = %d", i, resp.StatusCode)
	}
	return answered
}

// forgetSession drops the BFF cookie from the browser (not the IdP's), so
// the next sign-in makes a new session.
func (b *cbrowser) forgetSession() {
	b.jar.SetCookies(mustURL(b.cl.nodes[0].publicURL()), []*http.Cookie{{Name: "bff-session", Value: "x", Path: "/", MaxAge: -1}})
}

func TestNearCacheWindowSignOut(t *testing.T) {
	cl := windowCluster(t)
	b := cl.browser(t)
	var w windowResult
	for range windowTrials {
		b.signIn(t, 0)
		p := newPoller(cl.nodes[1], b.cookie())
		p.warm(t, cl.nodes[1].store)
		p.watch(t, b.signOutAt(t, 0), &w)
		b.forgetSession()
	}
	w.report(t, "sign-out through A")
}

func TestNearCacheWindowBackchannelLogout(t *testing.T) {
	cl := windowCluster(t)
	cl.holdLogouts.Store(true) // the test delivers each token to A itself
	b := cl.browser(t)
	var w windowResult
	for range windowTrials {
		b.signIn(t, 0)
		p := newPoller(cl.nodes[1], b.cookie())
		p.warm(t, cl.nodes[1].store)
		before := len(cl.logoutTokens("/bff"))
		b.signOutAtIdP(t, cl.endSessionURL())
		tokens := cl.logoutTokens("/bff")
		if len(tokens) != before+1 {
			t.Fatalf("the IdP sent %d logout tokens, want 1", len(tokens)-before)
		}
		resp, err := http.PostForm(cl.nodes[0].publicURL()+"/auth/backchannel-logout", url.Values{"logout_token": {tokens[before]}})
		if err != nil {
			t.Fatal(err)
		}
		answered := time.Now()
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("back-channel logout on A = %d", resp.StatusCode)
		}
		p.watch(t, answered, &w)
		b.forgetSession()
	}
	w.report(t, "back-channel logout delivered to A")
}

// An expired session is refused by B at once, from its cached copy: expiry
// is judged from the record against the clock, not by the cache. "A's
// answer" is here the moment the clock passes the idle deadline.
func TestNearCacheWindowExpiry(t *testing.T) {
	cl := windowCluster(t)
	b := cl.browser(t)
	var w windowResult
	for range windowTrials / 5 { // each trial moves the clocks a day
		b.signIn(t, 0)
		p := newPoller(cl.nodes[1], b.cookie())
		p.warm(t, cl.nodes[1].store)
		cl.advance(config.DefaultSessionIdleTimeout + time.Second)
		expired := time.Now()
		if code, _ := p.get(t); code != http.StatusUnauthorized {
			t.Fatalf("B's first /api/me after the idle deadline = %d, want 401 at once", code)
		}
		w.windows = append(w.windows, time.Since(expired))
		b.forgetSession()
		b.signOutAtIdP(t, cl.endSessionURL()) // a fresh IdP session for the next trial
	}
	w.report(t, "idle expiry (the clock passes the deadline)")
}

// Faults: after CLIENT KILL of every connection (both replicas'), and
// across a Redis restart, a sign-out on A is never served as signed-in by
// B beyond the window: B's cache was dropped with its connections.
func TestNearCacheSignOutAfterConnectionLoss(t *testing.T) {
	for _, fault := range []string{"client kill", "redis restart"} {
		t.Run(strings.ReplaceAll(fault, " ", "-"), func(t *testing.T) {
			cl := windowCluster(t)
			b := cl.browser(t)
			var w windowResult
			for range 25 {
				b.signIn(t, 0)
				p := newPoller(cl.nodes[1], b.cookie())
				p.warm(t, cl.nodes[1].store)
				flushes := cl.nodes[1].store.NearCacheStats().Flushes
				if fault == "client kill" {
					if cl.redis.KillClients() == 0 {
						t.Fatal("CLIENT KILL closed no connection")
					}
				} else {
					cl.redis.Restart()
				}
				p.watch(t, b.signOutAt(t, 0), &w)
				if cl.nodes[1].store.NearCacheStats().Flushes == flushes {
					t.Fatalf("B's near-cache was not dropped with its connections after %s", fault)
				}
				b.forgetSession()
			}
			w.report(t, "sign-out on A after "+fault)
			if w.stale > 0 {
				t.Errorf("B served the signed-out session %d times after A answered", w.stale)
			}
		})
	}
}
