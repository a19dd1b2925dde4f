package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/redistest"
	"github.com/logto-bff/bff/backend/internal/session"
)

const (
	scaleSmall = 1000
	fillBatch  = 1000
)

// scalePhase is /api/me on a BFF whose Redis holds a given number of
// session keys.
type scalePhase struct {
	keys       int
	usedMemory int64
	me         *row
}

// measureScale compares /api/me on two identical Redis-store BFFs, each
// with its own redis-server: the main one, filled to 1,000 session keys,
// and a second one filled to -scale-keys. Keys are DUMP/RESTORE copies of
// the instance's real session key (alice's, same value and TTL) under
// random ids of the real shape. Both rows and the floor run in interleaved
// rounds, so machine drift hits them alike.
func (h *harness) measureScale(ctx context.Context, ld *loader, rep *report) error {
	bigDir := filepath.Join(h.dir, "redis-scale")
	if err := os.Mkdir(bigDir, 0o700); err != nil {
		return err
	}
	h.logf("starting a second redis-server and bff for the scale measurement")
	var err error
	if h.redisBig, err = redistest.Launch(bigDir); err != nil {
		return err
	}
	bigAddr := h.redisBig.Addr()
	if err := h.startBFF(ctx, h.bffBig, bigAddr); err != nil {
		return err
	}
	br, err := newBrowser(h.bffBig.url, true)
	if err != nil {
		return err
	}
	if err := br.signIn(ctx, false); err != nil {
		return fmt.Errorf("bff (scale): %w", err)
	}
	if h.bffBig.cookie, err = br.cookieHeader(); err != nil {
		return err
	}

	floor := &row{name: "upstream direct (floor)", target: target{url: h.upURL + "/direct/item", headers: h.apiHeaders(h.bffRedis)}}
	rows := []*row{floor}
	for _, inst := range []struct {
		addr string
		bff  *bffProc
		keys int
	}{{h.redisAddr, h.bffRedis, scaleSmall}, {bigAddr, h.bffBig, h.o.scaleKeys}} {
		p, err := h.fillInstance(ctx, inst.addr, inst.keys)
		if err != nil {
			return err
		}
		p.me = &row{name: fmt.Sprintf("GET /api/me, Redis holding %d sessions", p.keys),
			target: target{url: inst.bff.url + "/api/me", headers: h.apiHeaders(inst.bff)}}
		rows = append(rows, p.me)
		rep.scale = append(rep.scale, p)
	}
	if err := h.measure(ctx, ld, rows); err != nil {
		return err
	}
	rep.scaleFloor = floor
	for _, b := range []*bffProc{h.bffRedis, h.bffBig} {
		if err := checkLog(b.logPath, []string{"/api/me"}); err != nil {
			return fmt.Errorf("bff (%s) log: %w", b.logPath, err)
		}
	}
	return nil
}

// fillInstance copies alice's session key on the Redis at addr until it
// holds want session keys.
func (h *harness) fillInstance(ctx context.Context, addr string, want int) (scalePhase, error) {
	var p scalePhase
	rc, err := newRedisClient(addr)
	if err != nil {
		return p, err
	}
	defer rc.Close()
	key, _, err := findSession(ctx, rc, devidp.AliceID)
	if err != nil {
		return p, err
	}
	dump, err := rc.Do(ctx, rc.B().Dump().Key(key).Build()).AsBytes()
	if err != nil {
		return p, fmt.Errorf("DUMP: %w", err)
	}
	pttl, err := rc.Do(ctx, rc.B().Pttl().Key(key).Build()).AsInt64()
	if err != nil || pttl <= 0 {
		return p, fmt.Errorf("PTTL of the session key: %d, %v", pttl, err)
	}
	usage, err := memoryUsage(ctx, rc, key)
	if err != nil {
		return p, fmt.Errorf("MEMORY USAGE: %w", err)
	}
	have, err := countSessions(ctx, rc)
	if err != nil {
		return p, err
	}
	if need := int64(want-have) * usage * 3 / 2; need > 0 {
		if avail, err := memAvailable(); err == nil && need > avail/2 {
			return p, fmt.Errorf("%d session keys need ~%.1f GiB in Redis but only %.1f GiB is available: lower -scale-keys or pass -skip-scale",
				want, float64(need)/(1<<30), float64(avail)/(1<<30))
		}
		h.logf("restoring %d copies of a %d-byte session key (%d → %d session keys)", want-have, usage, have, want)
		start := time.Now()
		if err := restoreCopies(ctx, rc, dump, pttl, want-have); err != nil {
			return p, err
		}
		h.logf("  done in %s", time.Since(start).Round(time.Millisecond))
	}
	if p.keys, err = countSessions(ctx, rc); err != nil {
		return p, err
	}
	if p.usedMemory, err = usedMemory(ctx, rc); err != nil {
		return p, err
	}
	return p, nil
}

// restoreCopies RESTOREs dump under n new random session ids, pipelined:
// fillBatch commands per DoMulti, one round trip each.
func restoreCopies(ctx context.Context, rc rueidis.Client, dump []byte, pttl int64, n int) error {
	value := rueidis.BinaryString(dump)
	batch := make(rueidis.Commands, 0, fillBatch)
	for done := 0; done < n; {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch = batch[:0]
		for range min(fillBatch, n-done) {
			batch = append(batch, rc.B().Restore().Key(session.RedisSessionKey(session.NewSessionID())).Ttl(pttl).SerializedValue(value).Build())
		}
		for _, res := range rc.DoMulti(ctx, batch...) {
			if err := res.Error(); err != nil {
				return fmt.Errorf("RESTORE: %w", err)
			}
		}
		done += len(batch)
	}
	return nil
}

// countSessions counts the session keys (SCAN; only other keys are the
// small indexes, so DBSIZE would overcount).
func countSessions(ctx context.Context, rc rueidis.Client) (int, error) {
	var (
		n      int
		cursor uint64
	)
	for {
		page, err := rc.Do(ctx, rc.B().Scan().Cursor(cursor).Match(session.RedisSessionPattern).Count(10000).Build()).AsScanEntry()
		if err != nil {
			return 0, fmt.Errorf("SCAN: %w", err)
		}
		n += len(page.Elements)
		if cursor = page.Cursor; cursor == 0 {
			return n, nil
		}
	}
}

// usedMemory is INFO memory's used_memory.
func usedMemory(ctx context.Context, rc rueidis.Client) (int64, error) {
	info, err := rc.Do(ctx, rc.B().Info().Section("memory").Build()).ToString()
	if err != nil {
		return 0, err
	}
	return infoField(info, "used_memory")
}

// memAvailable is MemAvailable from /proc/meminfo, in bytes.
func memAvailable() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			fs := strings.Fields(v)
			if len(fs) == 2 {
				kb, err := strconv.ParseInt(fs[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no MemAvailable in /proc/meminfo")
}

// redisConnections is INFO stats' total_connections_received: how many
// connections Redis has accepted so far (a connection pool that closes and
// redials under load shows up here).
func (h *harness) redisConnections(ctx context.Context) (int64, error) {
	rc, err := h.redisClient()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	info, err := rc.Do(ctx, rc.B().Info().Section("stats").Build()).ToString()
	if err != nil {
		return 0, err
	}
	return infoField(info, "total_connections_received")
}

// infoField reads one integer field of INFO output (over RESP3 a verbatim
// string whose first line carries a "txt:" prefix, never a field's).
func infoField(info, name string) (int64, error) {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO has no %s", name)
}
