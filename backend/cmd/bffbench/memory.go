package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/session"
)

// fillWorkers is how many browsers sign in concurrently in fillMemory.
const fillWorkers = 8

// fillPerUser is how many of fillMemory's sessions belong to one user (and
// one IdP session): below the BFF's bound on one user's concurrent
// sessions, which would otherwise end the oldest.
const fillPerUser = 200

// fillUsername is the k-th fill user's username.
func fillUsername(k int64) string { return fmt.Sprintf("bench-fill-%06d", k) }

// fillUsers are the dev IdP users fillMemory signs in as (alice's password
// and profile, their own ids and names), for n sessions.
func fillUsers(n int) []devidp.User {
	var users []devidp.User
	for k := int64(0); k*fillPerUser < int64(n); k++ {
		u := devidp.DefaultUsers()[0]
		u.ID = fmt.Sprintf("benchfill%06d", k)
		u.Username = fillUsername(k)
		u.Email = u.Username + "@example.test"
		users = append(users, u)
	}
	return users
}

// footprint is the Redis cost of one real session.
type footprint struct {
	memoryUsage int64 // MEMORY USAGE <key> SAMPLES 0
	valueBytes  int64 // STRLEN
	parts       map[string]int
}

// rssResult is the memory-store BFF's resident memory around a fill.
type rssResult struct {
	sessions              int
	before, after         int64 // VmRSS
	heapBefore, heapAfter int64 // go_memstats_heap_alloc_bytes from /metrics
	elapsed               time.Duration
}

// heapAlloc reads go_memstats_heap_alloc_bytes from the BFF's /metrics
// (on its own listener, metricsURL).
func heapAlloc(ctx context.Context, metricsURL string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics answered %d", resp.StatusCode)
	}
	v, err := metricValue(string(body), "go_memstats_heap_alloc_bytes")
	return int64(v), err
}

// newRedisClient is a client of the harness's redis-server at addr over
// one connection (like the single connection the harness always used, so
// INFO's connection counts stay comparable): no cluster probe, no
// client-side cache, and a minute-long read/write deadline for the big
// RESTORE pipelines.
func newRedisClient(addr string) (rueidis.Client, error) {
	return rueidis.NewClient(rueidis.ClientOption{
		InitAddress:       []string{addr},
		ForceSingleClient: true,
		DisableCache:      true,
		PipelineMultiplex: -1, // one connection, not one per CPU
		ConnWriteTimeout:  time.Minute,
	})
}

// redisClient is a client of the main redis-server (the Redis BFF's).
func (h *harness) redisClient() (rueidis.Client, error) { return newRedisClient(h.redisAddr) }

// measureMemory signs nelly in through Discord on the Redis BFF and reads
// her key's MEMORY USAGE, then fills the memory-store BFF with sessions
// through real (SSO) sign-ins and reads its VmRSS before and after.
func (h *harness) measureMemory(ctx context.Context, rep *report) error {
	br, err := newBrowser(h.bffRedis.url, true)
	if err != nil {
		return err
	}
	if err := br.signIn(ctx, true); err != nil {
		return fmt.Errorf("Discord sign-in: %w", err)
	}
	cookie, err := br.cookieHeader()
	if err != nil {
		return err
	}
	if err := checkMe(ctx, h.bffRedis.url, cookie, devidp.NellyID); err != nil {
		return err
	}
	rc, err := h.redisClient()
	if err != nil {
		return err
	}
	defer rc.Close()
	key, raw, err := findSession(ctx, rc, devidp.NellyID)
	if err != nil {
		return err
	}
	fp := footprint{parts: map[string]int{}}
	if fp.memoryUsage, err = memoryUsage(ctx, rc, key); err != nil {
		return fmt.Errorf("MEMORY USAGE: %w", err)
	}
	fp.valueBytes = int64(len(raw))
	fp.parts = recordParts(raw)
	rep.footprint = &fp
	h.logf("Discord session: MEMORY USAGE %d bytes (value %d bytes)", fp.memoryUsage, fp.valueBytes)
	if h.proxy {
		// One proxied call adds the resource's access token to the session.
		if err := checkGet(ctx, target{url: h.bffRedis.url + "/api/proxy/" + proxyRouteName + "/item",
			headers: map[string]string{"Cookie": cookie, "X-CSRF": "1"}}); err != nil {
			return fmt.Errorf("proxied call as nelly: %w", err)
		}
		after := footprint{}
		if after.memoryUsage, err = memoryUsage(ctx, rc, key); err != nil {
			return fmt.Errorf("MEMORY USAGE: %w", err)
		}
		raw, err := rc.Do(ctx, rc.B().Get().Key(key).Build()).AsBytes()
		if err != nil {
			return fmt.Errorf("GET the session key: %w", err)
		}
		after.valueBytes, after.parts = int64(len(raw)), recordParts(raw)
		rep.footprintAPI = &after
		h.logf("after a proxied call: MEMORY USAGE %d bytes (value %d bytes)", after.memoryUsage, after.valueBytes)
	}

	rss, err := h.fillMemory(ctx, h.o.sessions)
	if err != nil {
		return err
	}
	rep.rss = &rss
	return nil
}

// findSession returns the key and value of the session whose record's sub
// is sub (the first found).
func findSession(ctx context.Context, rc rueidis.Client, sub string) (string, []byte, error) {
	var cursor uint64
	for {
		page, err := rc.Do(ctx, rc.B().Scan().Cursor(cursor).Match(session.RedisSessionPattern).Count(1000).Build()).AsScanEntry()
		if err != nil {
			return "", nil, fmt.Errorf("SCAN: %w", err)
		}
		cursor = page.Cursor
		for _, k := range page.Elements {
			raw, err := rc.Do(ctx, rc.B().Get().Key(k).Build()).AsBytes()
			if err != nil {
				continue
			}
			var rec struct {
				Sub string `json:"sub"`
			}
			if json.Unmarshal(raw, &rec) == nil && rec.Sub == sub {
				return k, raw, nil
			}
		}
		if cursor == 0 {
			return "", nil, fmt.Errorf("no %s key holds a session of %s", session.RedisSessionPattern, sub)
		}
	}
}

// memoryUsage is MEMORY USAGE key SAMPLES 0: the whole key's bytes in Redis.
func memoryUsage(ctx context.Context, rc rueidis.Client, key string) (int64, error) {
	return rc.Do(ctx, rc.B().MemoryUsage().Key(key).Samples(0).Build()).AsInt64()
}

// recordParts sizes the main parts of a stored record, to say where the
// bytes go.
func recordParts(raw []byte) map[string]int {
	var rec struct {
		Me     json.RawMessage `json:"me"`
		Tokens struct {
			AccessToken  string                     `json:"access_token"`
			RefreshToken string                     `json:"refresh_token"`
			IDToken      string                     `json:"id_token"`
			Resources    map[string]json.RawMessage `json:"resources"`
		} `json:"tokens"`
	}
	if json.Unmarshal(raw, &rec) != nil {
		return nil
	}
	res := 0
	for k, v := range rec.Tokens.Resources {
		res += len(k) + len(v)
	}
	return map[string]int{
		"me (the /api/me user)": len(rec.Me),
		"id_token":              len(rec.Tokens.IDToken),
		"access_token":          len(rec.Tokens.AccessToken),
		"refresh_token":         len(rec.Tokens.RefreshToken),
		"resource tokens":       res,
	}
}

// fillMemory signs in n sessions on the memory-store BFF through the real
// flow, fillPerUser sessions per fill user: a new browser per user whose
// first sign-in fills the IdP's form and whose later ones ride the IdP's
// SSO session (no form, still /auth/sign-in → authorize → code exchange →
// ID-token check → userinfo → a new session). The BFF's session cookie is
// never kept, so each sign-in adds a session instead of replacing one.
func (h *harness) fillMemory(ctx context.Context, n int) (rssResult, error) {
	res := rssResult{sessions: n}
	var err error
	if res.before, err = vmRSS(h.bffMem.c.pid()); err != nil {
		return res, err
	}
	if res.heapBefore, err = heapAlloc(ctx, h.bffMem.metrics); err != nil {
		return res, err
	}
	h.logf("signing in %d sessions on the memory-store BFF (%d workers; RSS before: %.1f MiB)", n, fillWorkers, mib(res.before))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		signedIn atomic.Int64
		chunk    atomic.Int64
		wg       sync.WaitGroup
		firstErr error
		errOnce  sync.Once
	)
	start := time.Now()
	for range fillWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			// Each chunk is one fill user in a new browser: the form once,
			// then SSO sign-ins in the same IdP session.
			for k := chunk.Add(1) - 1; err == nil && k*fillPerUser < int64(n); k = chunk.Add(1) - 1 {
				var br *browser
				if br, err = newBrowser(h.bffMem.url, false); err != nil {
					break
				}
				br.username = fillUsername(k)
				for i := k * fillPerUser; err == nil && i < min((k+1)*fillPerUser, int64(n)); i++ {
					if err = br.signIn(ctx, false); err == nil {
						signedIn.Add(1)
					}
				}
			}
			if err != nil && !errors.Is(ctx.Err(), context.Canceled) {
				errOnce.Do(func() { firstErr = err; cancel() })
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-tick.C:
			k := signedIn.Load()
			h.logf("  %d/%d sessions (%.0f sign-ins/s)", k, n, float64(k)/time.Since(start).Seconds())
		}
	}
	if firstErr != nil {
		return res, fmt.Errorf("filling the memory store: %w", firstErr)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.elapsed = time.Since(start)
	// Let the BFF's GC settle a little after the burst of sign-ins.
	time.Sleep(2 * time.Second)
	if res.after, err = vmRSS(h.bffMem.c.pid()); err != nil {
		return res, err
	}
	if res.heapAfter, err = heapAlloc(ctx, h.bffMem.metrics); err != nil {
		return res, err
	}
	if err := checkMe(ctx, h.bffMem.url, h.bffMem.cookie, devidp.AliceID); err != nil {
		return res, fmt.Errorf("after the fill: %w", err)
	}
	h.logf("RSS after %d sessions: %.1f MiB (%.0f sign-ins/s)", n, mib(res.after), float64(n)/res.elapsed.Seconds())
	return res, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
