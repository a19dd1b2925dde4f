package httpapi

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/refresh"
)

func TestTransparentRefresh(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			cl := newCluster(t, clusterOptions{store: store})
			b := cl.browser(t)
			b.signIn(t, 0)
			before, err := cl.stored(t, 0, b.cookie())
			if err != nil {
				t.Fatal(err)
			}

			// The effective margin of a 5 min token is a twentieth of its
			// lifetime (15 s), less than the configured 60 s.
			margin := refresh.Margin(time.Minute, clusterAccessTTL)
			if margin != clusterAccessTTL/refresh.MarginDivisor {
				t.Fatalf("effective margin %v", margin)
			}
			// Outside the margin (even within the configured 60 s): no refresh.
			cl.advance(clusterAccessTTL - 2*margin)
			if code, _ := b.me(t, 0); code != http.StatusOK {
				t.Fatalf("/api/me = %d", code)
			}
			if st := cl.idp.Stats(); st.RefreshGrants != 0 {
				t.Fatalf("refreshed %d times outside the margin", st.RefreshGrants)
			}
			// Within the effective margin: refreshed on this request.
			cl.advance(margin + margin/2)
			if code, errCode := b.me(t, 0); code != http.StatusOK {
				t.Fatalf("/api/me within the margin = %d %s", code, errCode)
			}
			after, err := cl.stored(t, 0, b.cookie())
			if err != nil {
				t.Fatal(err)
			}
			if after.Tokens.AccessToken == before.Tokens.AccessToken || after.Tokens.RefreshToken == before.Tokens.RefreshToken ||
				after.Tokens.IDToken == before.Tokens.IDToken || after.Version <= before.Version {
				t.Error("tokens were not replaced in the store")
			}
			if want := cl.bffClock.Now().Add(clusterAccessTTL); !after.Tokens.AccessTokenExpiry.Equal(want) {
				t.Errorf("expiry %v, want %v", after.Tokens.AccessTokenExpiry, want)
			}
			// Long after expiry: refreshed again, transparently.
			cl.advance(3 * clusterAccessTTL)
			if code, errCode := b.me(t, 0); code != http.StatusOK {
				t.Fatalf("/api/me after expiry = %d %s", code, errCode)
			}
			if st := cl.idp.Stats(); st.RefreshGrants != 2 || st.RefreshReuse != 0 {
				t.Errorf("stats = %+v", st)
			}
			if got := cl.metricValue(t, 0, `bff_token_refreshes_total{result="success"}`); got != 2 {
				t.Errorf("refresh success metric = %v", got)
			}
		})
	}
}

// TestConcurrentRefreshAcrossTwoInstances: right after expiry, 20 and 50
// requests spread over two BFF instances sharing Redis, against a strict
// IdP, with tokens shorter and longer than the 60 s margin: one refresh, no
// reuse, every request 200.
func TestConcurrentRefreshAcrossTwoInstances(t *testing.T) {
	for _, ttl := range []time.Duration{5 * time.Second, 15 * time.Second, clusterAccessTTL} {
		for _, n := range []int{20, 50} {
			t.Run(fmt.Sprintf("%v/%d", ttl, n), func(t *testing.T) {
				concurrentRefresh(t, ttl, n)
			})
		}
	}
}

func concurrentRefresh(t *testing.T, ttl time.Duration, n int) {
	cl := newCluster(t, clusterOptions{nodes: 2, accessTTL: ttl})
	b := cl.browser(t)
	b.signIn(t, 0)
	if code, _ := b.me(t, 1); code != http.StatusOK {
		t.Fatalf("session not visible on the second instance: %d", code)
	}
	cl.advance(ttl + time.Second)
	stats := cl.idp.Stats()

	var wg sync.WaitGroup
	codes := make([]int, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, _ := b.do(t, i%2, http.MethodGet, "/api/me")
			codes[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d (instance %d) = %d", i, i%2, c)
		}
	}
	after := cl.idp.Stats()
	if d := after.RefreshGrants - stats.RefreshGrants; d != 1 {
		t.Errorf("RefreshGrants increased by %d, want exactly 1", d)
	}
	if after.RefreshReuse != 0 || after.GrantsRevoked != stats.GrantsRevoked {
		t.Errorf("RefreshReuse = %d, GrantsRevoked %d → %d", after.RefreshReuse, stats.GrantsRevoked, after.GrantsRevoked)
	}
	success := cl.metricValue(t, 0, `bff_token_refreshes_total{result="success"}`) + cl.metricValue(t, 1, `bff_token_refreshes_total{result="success"}`)
	if success != 1 {
		t.Errorf("refresh success across instances = %v, want 1", success)
	}
	waited := cl.metricValue(t, 0, `bff_token_refreshes_total{result="waited"}`) + cl.metricValue(t, 1, `bff_token_refreshes_total{result="waited"}`)
	t.Logf("%d requests: 1 refresh, %v waited for it under the lock, the rest read the refreshed session", n, waited)
	// The refreshed session keeps working on both.
	for i := range 2 {
		if code, _ := b.me(t, i); code != http.StatusOK {
			t.Errorf("instance %d after the burst = %d", i, code)
		}
	}
}

// TestIdPDownWhileTokensValid: Logto unreachable while the access and API
// tokens still have a second left → 200 on both instances, through /api/me
// and /api/proxy (a refresh is due with 5 min tokens, whose margin is 15 s;
// none is due yet with 15 s tokens); once they have expired → 503
// idp_unavailable within 5 s, never 401; Logto back → 200 with one refresh
// per token.
func TestIdPDownWhileTokensValid(t *testing.T) {
	for _, ttl := range []time.Duration{15 * time.Second, clusterAccessTTL} {
		t.Run(ttl.String(), func(t *testing.T) {
			cl, _ := newProxyClusterWith(t, clusterOptions{nodes: 2, accessTTL: ttl})
			b := cl.browser(t)
			b.signIn(t, 0)
			paths := []string{"/api/me", "/api/proxy/demo/hello", "/api/proxy/acme/members"}
			for _, p := range paths[1:] { // cache the API tokens
				if resp, body := b.do(t, 0, http.MethodGet, p); resp.StatusCode != http.StatusOK {
					t.Fatalf("%s = %d %s", p, resp.StatusCode, body)
				}
			}
			grants := cl.idp.Stats().RefreshGrants

			cl.advance(ttl - time.Second)
			cl.idpUp.Store(false)
			for i := range 2 {
				for _, p := range paths {
					if resp, body := b.do(t, i, http.MethodGet, p); resp.StatusCode != http.StatusOK {
						t.Errorf("instance %d, IdP down, 1 s left: %s = %d %s", i, p, resp.StatusCode, body)
					}
				}
			}
			deferred := cl.metricValue(t, 0, `bff_token_refreshes_total{result="deferred"}`) + cl.metricValue(t, 1, `bff_token_refreshes_total{result="deferred"}`)
			due := refresh.Margin(time.Minute, ttl) > time.Second
			if due && deferred != 6 || !due && deferred != 0 {
				t.Errorf("deferred refreshes = %v (refresh due: %v)", deferred, due)
			}

			cl.advance(time.Second)
			for i := range 2 {
				for _, p := range paths {
					start := time.Now()
					resp, body := b.do(t, i, http.MethodGet, p)
					if resp.StatusCode != http.StatusServiceUnavailable || errorCode(t, body) != "idp_unavailable" {
						t.Errorf("instance %d, IdP down, expired: %s = %d %s, want 503 idp_unavailable", i, p, resp.StatusCode, body)
					}
					if d := time.Since(start); d > 5*time.Second {
						t.Errorf("instance %d: %s took %v", i, p, d)
					}
				}
			}

			cl.idpUp.Store(true)
			for i := range 2 {
				for _, p := range paths {
					if resp, body := b.do(t, i, http.MethodGet, p); resp.StatusCode != http.StatusOK {
						t.Errorf("instance %d, IdP back: %s = %d %s", i, p, resp.StatusCode, body)
					}
				}
			}
			if st := cl.idp.Stats(); st.RefreshGrants-grants != len(paths) || st.RefreshReuse != 0 {
				t.Errorf("IdP back: %d grants for %d tokens, stats %+v", st.RefreshGrants-grants, len(paths), st)
			}
		})
	}
}

func TestRefreshRevokedAtIdPEndsSession(t *testing.T) {
	cl := newCluster(t, clusterOptions{nodes: 2})
	b := cl.browser(t)
	b.signIn(t, 0)
	if n := cl.idp.RevokeGrants(devidp.AliceID); n == 0 {
		t.Fatal("no grant revoked")
	}
	// Before expiry nothing asks Logto: the session still answers.
	if code, _ := b.me(t, 0); code != http.StatusOK {
		t.Fatalf("/api/me before expiry = %d", code)
	}
	cl.advance(clusterAccessTTL)
	if code, errCode := b.me(t, 1); code != http.StatusUnauthorized || errCode != "session_expired" {
		t.Fatalf("/api/me after the grant was revoked = %d %s, want 401 session_expired", code, errCode)
	}
	// Later requests with that cookie, on either instance, say the same.
	for i := range 2 {
		if code, errCode := b.me(t, i); code != http.StatusUnauthorized || errCode != "session_expired" {
			t.Errorf("instance %d later = %d %s", i, code, errCode)
		}
	}
	if s, err := cl.stored(t, 0, b.cookie()); err != nil || s.Tokens.RefreshToken != "" || s.Tokens.AccessToken != "" || len(s.Me) != 0 {
		t.Errorf("the ended session still holds tokens or the user (err %v)", err)
	}
	if got := cl.metricValue(t, 1, `bff_token_refreshes_total{result="expired"}`); got != 1 {
		t.Errorf("expired metric = %v", got)
	}
	// After the tombstone's lifetime it is just signed out.
	cl.advance(refresh.TombstoneTTL)
	if code, errCode := b.me(t, 0); code != http.StatusUnauthorized || errCode != "unauthorized" {
		t.Errorf("after the tombstone = %d %s", code, errCode)
	}
	// Signing in again works.
	b.signIn(t, 1)
	if code, _ := b.me(t, 0); code != http.StatusOK {
		t.Errorf("after signing in again = %d", code)
	}
}

func TestIdPDownDuringRefreshKeepsSession(t *testing.T) {
	cl := newCluster(t, clusterOptions{nodes: 2})
	b := cl.browser(t)
	b.signIn(t, 0)
	before, err := cl.stored(t, 0, b.cookie())
	if err != nil {
		t.Fatal(err)
	}
	cl.advance(clusterAccessTTL + time.Second)
	cl.idpUp.Store(false)
	for i := range 2 {
		if code, errCode := b.me(t, i); code != http.StatusServiceUnavailable || errCode != "idp_unavailable" {
			t.Fatalf("instance %d with the IdP down = %d %s, want 503 idp_unavailable", i, code, errCode)
		}
	}
	kept, err := cl.stored(t, 1, b.cookie())
	if err != nil || kept.Tokens.RefreshToken != before.Tokens.RefreshToken {
		t.Fatalf("session not kept unchanged: %v", err)
	}
	if got := cl.metricValue(t, 0, `bff_token_refreshes_total{result="failure"}`); got != 1 {
		t.Errorf("failure metric = %v", got)
	}
	cl.idpUp.Store(true)
	if code, errCode := b.me(t, 1); code != http.StatusOK {
		t.Fatalf("after the IdP came back = %d %s", code, errCode)
	}
	if st := cl.idp.Stats(); st.RefreshGrants != 1 || st.RefreshReuse != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestStoreErrorsAreCounted(t *testing.T) {
	cl := newCluster(t, clusterOptions{})
	b := cl.browser(t)
	b.signIn(t, 0)
	cl.redis.Stop()
	if code, errCode := b.me(t, 0); code != http.StatusServiceUnavailable || errCode != "store_unavailable" {
		t.Fatalf("/api/me with Redis down = %d %s", code, errCode)
	}
	if v := cl.metricValue(t, 0, `bff_session_store_errors_total{op="load"}`); v != 1 {
		t.Errorf("store error metric = %v", v)
	}
	if v := cl.metricValue(t, 0, `bff_http_requests_total{code="503",method="GET",route="/api/me"}`); v != 1 {
		t.Errorf("request metric = %v", v)
	}
}

// TestThreeReplicasShareEverything: sign in through one instance, refresh
// through another, sign out through a third.
func TestThreeReplicasShareEverything(t *testing.T) {
	cl := newCluster(t, clusterOptions{nodes: 3})
	b := cl.browser(t)
	b.signIn(t, 0)
	cl.advance(clusterAccessTTL)
	if code, errCode := b.me(t, 1); code != http.StatusOK {
		t.Fatalf("refresh through instance 1 = %d %s", code, errCode)
	}
	if code, _ := b.me(t, 0); code != http.StatusOK {
		t.Fatalf("instance 0 after instance 1 refreshed = %d", code)
	}
	cookie := b.cookie()
	req, _ := http.NewRequest(http.MethodPost, cl.nodes[2].publicURL()+"/auth/sign-out", nil)
	req.Header.Set("Origin", cl.nodes[2].publicURL())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.noFollow().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out through instance 2 = %d", resp.StatusCode)
	}
	for i := range 3 {
		if _, err := cl.stored(t, i, cookie); err == nil {
			t.Errorf("instance %d still has the session", i)
		}
	}
	if st := cl.idp.Stats(); st.RefreshGrants != 1 || st.RefreshReuse != 0 || st.Revocations != 1 {
		t.Errorf("stats = %+v (want 1 refresh, the refreshed token revoked at sign-out)", st)
	}
	if v := cl.metricValue(t, 2, `bff_sign_outs_total`); v != 1 {
		t.Errorf("sign-out metric = %v", v)
	}
	if v := cl.metricValue(t, 0, `bff_sign_ins_total{result="success"}`); v != 1 {
		t.Errorf("sign-in metric = %v", v)
	}
}

// TestSteadyTrafficOneRefreshPerLifetime: tokens shorter than the default
// 60 s margin, two minutes of steady /api/me traffic (one request every
// 100 ms on the shared test clock, alternating between two instances): at
// most one refresh_token grant per token lifetime, plus one.
func TestSteadyTrafficOneRefreshPerLifetime(t *testing.T) {
	const traffic, every = 2 * time.Minute, 100 * time.Millisecond
	for _, ttl := range []time.Duration{5 * time.Second, 15 * time.Second} {
		t.Run(ttl.String(), func(t *testing.T) {
			cl := newCluster(t, clusterOptions{nodes: 2, accessTTL: ttl})
			b := cl.browser(t)
			b.signIn(t, 0)
			i := 0
			for elapsed := time.Duration(0); elapsed < traffic; elapsed += every {
				if code, errCode := b.me(t, i%2); code != http.StatusOK {
					t.Fatalf("at %v: /api/me = %d %s", elapsed, code, errCode)
				}
				cl.advance(every)
				i++
			}
			st := cl.idp.Stats()
			limit := int(traffic/ttl) + 1
			t.Logf("%v tokens, %d requests over %v: %d refresh_token grants (limit %d)", ttl, i, traffic, st.RefreshGrants, limit)
			if st.RefreshGrants > limit || st.RefreshGrants < limit-2 || st.RefreshReuse != 0 {
				t.Errorf("%d grants (reuse %d), want between %d and %d", st.RefreshGrants, st.RefreshReuse, limit-2, limit)
			}
		})
	}
}
