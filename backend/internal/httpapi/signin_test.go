package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
)

// bffCookieBytes is the size of every BFF cookie the browser would send
// (name=value; ...).
func (b *browser) bffCookieBytes() int {
	u, _ := url.Parse(b.e.bff.URL)
	n := 0
	for _, c := range b.jar.Cookies(u) {
		n += len(c.Name) + 1 + len(c.Value) + 2
	}
	return n
}

// bindingCookie returns the browser's binding cookie value, or "".
func (b *browser) bindingCookie() string {
	u, _ := url.Parse(b.e.bff.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "bff-signin" {
			return c.Value
		}
	}
	return ""
}

// dbsize is the key count of the env's Redis (-1 on the memory store).
func (e *env) dbsize(t testing.TB) int {
	t.Helper()
	if e.redis == nil {
		return -1
	}
	conn, err := net.DialTimeout("tcp", e.redis.Addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("*1\r\n$6\r\nDBSIZE\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, ":") {
		t.Fatalf("DBSIZE: %q %v", line, err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	return n
}

func TestFiveTabsFinishInAnyOrderAndTheSixthDropsTheOldest(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		b := e.browser(t)
		keys := e.dbsize(t)
		callbacks := make([]*url.URL, 6)
		for i := range callbacks {
			callbacks[i] = b.callbackURL(t, b.beginSignIn(t, fmt.Sprintf("returnTo=/tab%d", i)))
			if n := b.bffCookieBytes(); n >= 4096 {
				t.Errorf("BFF cookies are %d bytes after %d sign-ins began", n, i+1)
			}
		}
		if got := e.dbsize(t); got != keys {
			t.Errorf("beginning six sign-ins wrote %d keys", got-keys)
		}
		// The sixth dropped the first: refused, nothing written.
		resp, body := b.get(t, callbacks[0].RequestURI())
		assertStatePage(t, resp, body)
		if len(resp.Header.Values("Set-Cookie")) != 0 || e.dbsize(t) != keys {
			t.Errorf("a dropped state wrote something: %v", resp.Header.Values("Set-Cookie"))
		}
		for _, i := range []int{4, 1, 5, 3, 2} {
			resp, body := b.get(t, callbacks[i].RequestURI())
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != fmt.Sprintf("/tab%d", i) {
				t.Fatalf("tab %d: %d %s %s", i, resp.StatusCode, resp.Header.Get("Location"), body)
			}
			if n := b.bffCookieBytes(); n >= 4096 {
				t.Errorf("BFF cookies are %d bytes after tab %d finished", n, i)
			}
			if code, _ := b.api(t, "/api/me"); code != http.StatusOK {
				t.Errorf("/api/me after tab %d = %d", i, code)
			}
		}
		if v := b.bindingCookie(); v != "" {
			t.Errorf("binding cookie left after every tab finished: %q", v)
		}
	})
}

func TestPreSignInCookiesAreWorthlessAfterSignIn(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		b := e.browser(t)
		b.signIn(t, "", "alice") // an earlier session, about to be replaced
		cb := b.callbackURL(t, b.beginSignIn(t, "returnTo=/x"))
		beforeSession, beforeBinding := b.sessionCookie(), b.bindingCookie()
		if beforeSession == "" || beforeBinding == "" {
			t.Fatal("no session or binding cookie before sign-in")
		}
		if resp, _ := b.get(t, cb.RequestURI()); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("callback: %d", resp.StatusCode)
		}
		if b.sessionCookie() == beforeSession || b.bindingCookie() == beforeBinding {
			t.Fatal("a cookie kept its pre-sign-in value")
		}
		// Another browser holding every pre-sign-in value: the callback is
		// refused (nothing written), and the old session is gone.
		thief := e.browser(t)
		thief.setCookie("bff-session", beforeSession)
		thief.setCookie("bff-signin", beforeBinding)
		keys := e.dbsize(t)
		resp, body := thief.get(t, cb.RequestURI())
		assertStatePage(t, resp, body)
		if len(resp.Header.Values("Set-Cookie")) != 0 || e.dbsize(t) != keys {
			t.Errorf("a replay with the pre-sign-in cookies wrote something: %v", resp.Header.Values("Set-Cookie"))
		}
		if code, _ := thief.api(t, "/api/me"); code != http.StatusUnauthorized {
			t.Errorf("pre-sign-in session cookie: /api/me = %d", code)
		}
		if code, _ := b.api(t, "/api/me"); code != http.StatusOK {
			t.Errorf("the browser's own session: /api/me = %d", code)
		}
	})
}

func TestTamperedStateIsRefusedAndWritesNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, store, envOptions{})
		b := e.browser(t)
		cb := b.callbackURL(t, b.beginSignIn(t, "returnTo=/x"))
		q := cb.Query()
		state := q.Get("state")
		keys := e.dbsize(t)
		for name, st := range map[string]string{
			"flipped":   state[:len(state)/2] + string(state[len(state)/2]^1) + state[len(state)/2+1:],
			"truncated": state[:len(state)-1],
			"extended":  state + "A",
			"oversized": strings.Repeat("A", 8000),
		} {
			q.Set("state", st)
			resp, body := b.get(t, "/auth/callback?"+q.Encode(), "Accept", "application/json")
			if resp.StatusCode != http.StatusBadRequest || errorCode(t, body) != "invalid_state" || len(resp.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("%s state: %d %s %v", name, resp.StatusCode, body, resp.Header.Values("Set-Cookie"))
			}
		}
		if e.dbsize(t) != keys || b.sessionCookie() != "" {
			t.Error("a refused state wrote something")
		}
		// The real callback still works.
		if resp, _ := b.get(t, cb.RequestURI()); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("the honest callback after the attacks = %d", resp.StatusCode)
		}
	})
}

func TestStateRacedOnTwoInstances(t *testing.T) {
	cl := newCluster(t, clusterOptions{nodes: 2})
	b := cl.browser(t)
	resp, err := b.noFollow().Get(cl.nodes[0].publicURL() + "/auth/sign-in?returnTo=/raced")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authURL := resp.Header.Get("Location")
	// The IdP's sign-in, stopped before the callback.
	stop := *b.client
	stop.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.Path, "/auth/callback") {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err = devidptest.SignIn(context.Background(), &stop, authURL, devidp.AliceUsername, devidp.AlicePassword)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || loc.Path != "/auth/callback" {
		t.Fatalf("IdP answered %d %v", resp.StatusCode, loc)
	}
	// The same callback, eight times at once over both instances (sharing
	// one redis-server): exactly one gets past the single-use mark; the
	// others are refused as replays. (Each instance has its own redirect
	// URI, so the winner's exchange succeeds only on the instance that
	// began the sign-in: count what passed the mark, not the 303s.)
	const racers = 8
	statuses := make([]int, racers)
	codes := make([]string, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := b.do(t, i%2, http.MethodGet, loc.RequestURI())
			statuses[i] = resp.StatusCode
			if resp.StatusCode != http.StatusSeeOther {
				codes[i] = errorCode(t, body)
			}
		}()
	}
	wg.Wait()
	passed := 0
	for i := range racers {
		if codes[i] != "invalid_state" {
			passed++
		}
	}
	if passed != 1 {
		t.Errorf("%d racers passed the single-use mark (statuses %v, codes %q), want exactly 1", passed, statuses, codes)
	}
}
