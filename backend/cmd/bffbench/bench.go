package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/logto-bff/bff/backend/internal/config"
	"github.com/logto-bff/bff/backend/internal/devidp"
)

// row is one line of the table: a target loaded once per round.
type row struct {
	name    string
	target  target
	skip    string // non-empty: not measured, and why
	results []wrkResult
	ratios  []float64 // req/s ÷ the floor's req/s of the same round
}

func (r *row) medianRPS() float64 {
	return median(r.results, func(w wrkResult) float64 { return w.RPS })
}
func (r *row) medianP50() time.Duration {
	return time.Duration(median(r.results, func(w wrkResult) float64 { return float64(w.P50) }))
}
func (r *row) medianP99() time.Duration {
	return time.Duration(median(r.results, func(w wrkResult) float64 { return float64(w.P99) }))
}
func (r *row) medianRatio() float64 { return medianOf(r.ratios) }

func median[T any](xs []T, f func(T) float64) float64 {
	vs := make([]float64, len(xs))
	for i, x := range xs {
		vs[i] = f(x)
	}
	return medianOf(vs)
}

func medianOf(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// bench signs in, measures the rows, memory and scale, and prints the
// report to stdout.
func (h *harness) bench(ctx context.Context, stdout io.Writer) error {
	for _, b := range []*bffProc{h.bffRedis, h.bffMem} {
		br, err := newBrowser(b.url, true)
		if err != nil {
			return err
		}
		if err := br.signIn(ctx, false); err != nil {
			return fmt.Errorf("bff (%s): %w", b.store, err)
		}
		if b.cookie, err = br.cookieHeader(); err != nil {
			return err
		}
		if err := checkMe(ctx, b.url, b.cookie, devidp.AliceID); err != nil {
			return fmt.Errorf("bff (%s): %w", b.store, err)
		}
	}
	h.logf("signed in as alice on both BFFs")
	if h.o2p != nil {
		if err := h.signInOAuth2Proxy(ctx, h.o2p); err != nil {
			return err
		}
		h.logf("signed in as alice through oauth2-proxy")
	}

	ld := &loader{bin: h.o.wrkBinary, dir: h.dir, connections: h.o.connections, threads: h.o.threads}
	if h.o.pin {
		ld.cpu = wrkCPU
	}
	floor := &row{name: "upstream direct (floor)", target: target{url: h.upURL + "/direct/item", headers: h.apiHeaders(h.bffRedis)}}
	meRedis := &row{name: rowMeRedis, target: target{url: h.bffRedis.url + "/api/me", headers: h.apiHeaders(h.bffRedis)}}
	proxied := &row{name: rowProxied, target: target{url: h.bffRedis.url + "/api/proxy/" + proxyRouteName + "/item", headers: h.apiHeaders(h.bffRedis)}, skip: h.proxyNote}
	meMem := &row{name: rowMeMemory, target: target{url: h.bffMem.url + "/api/me", headers: h.apiHeaders(h.bffMem)}}
	rows := []*row{floor, meRedis, proxied, meMem}
	vs := []versus{{name: "`/api/me`, Redis + near-cache ÷ memory store", bff: meRedis, other: meMem, target: 0.8}}
	if h.o2p != nil {
		o2pHeaders := map[string]string{"Cookie": h.o2p.cookie, "X-CSRF": "1", "Accept": "application/json"}
		userinfo := &row{name: "GET /oauth2/userinfo, oauth2-proxy (Redis sessions)", target: target{url: h.o2p.url + "/oauth2/userinfo", headers: o2pHeaders}}
		o2pProxied := &row{name: "GET /proxied/item through oauth2-proxy (Redis sessions)", target: target{url: h.o2p.url + "/proxied/item", headers: o2pHeaders}}
		rows = append(rows, userinfo, o2pProxied)
		vs = append(vs, versus{name: "`/api/me` ÷ `/oauth2/userinfo`", bff: meRedis, other: userinfo, target: 3})
		if proxied.skip == "" {
			vs = append(vs, versus{name: "proxied route ÷ oauth2-proxy's proxied request", bff: proxied, other: o2pProxied, target: 2.4})
		}
	}

	connsBefore, err := h.redisConnections(ctx)
	if err != nil {
		return err
	}
	upBefore := h.up.conns.Load()
	if err := h.measure(ctx, ld, rows); err != nil {
		return err
	}
	connsAfter, err := h.redisConnections(ctx)
	if err != nil {
		return err
	}
	upConns := h.up.conns.Load() - upBefore
	if proxied.skip == "" && h.up.proxied.Load() == 0 {
		return fmt.Errorf("the proxied row never reached the upstream with a bearer token")
	}
	if n := h.up.refused.Load(); n > 0 {
		return fmt.Errorf("the upstream refused %d requests (no bearer token or unknown path)", n)
	}
	checked := []string{"/api/me"}
	if proxied.skip == "" {
		checked = append(checked, "/api/proxy")
	}
	for _, b := range []*bffProc{h.bffRedis, h.bffMem} {
		if err := checkLog(b.logPath, checked); err != nil {
			return fmt.Errorf("bff (%s) log: %w", b.store, err)
		}
	}

	rep := &report{rows: rows, versus: vs, o: h.o, redisConns: connsAfter - connsBefore - 2, upstreamConns: upConns}
	if !h.o.skipMemory {
		if err := h.measureMemory(ctx, rep); err != nil {
			return err
		}
	}
	if !h.o.skipScale {
		if err := h.measureScale(ctx, ld, rep); err != nil {
			return err
		}
	}
	return rep.write(stdout)
}

// The BFF rows' names (the Redis BFF runs with the near-cache at its
// default size, as in production).
var (
	rowMeRedis  = "GET /api/me, Redis store + near-cache (" + config.EnvSessionCache + "=" + sessionCacheDefault() + ")"
	rowProxied  = "GET /api/proxy/bench/item, Redis store + near-cache"
	rowMeMemory = "GET /api/me, memory store"
)

func sessionCacheDefault() string {
	s, _ := config.Lookup(config.EnvSessionCache)
	return s.Default
}

// versus is a row over another row measured in the same rounds (a BFF row
// over oauth2-proxy's, or Redis over memory).
type versus struct {
	name       string
	bff, other *row
	target     float64 // the goal for the ratio
}

// ratio is the median over rounds of bff req/s ÷ other req/s.
func (v versus) ratio() float64 {
	var rs []float64
	for i := range min(len(v.bff.results), len(v.other.results)) {
		rs = append(rs, v.bff.results[i].RPS/v.other.results[i].RPS)
	}
	return medianOf(rs)
}

// apiHeaders are the headers every row sends (the floor too, so every row
// carries the same request).
func (h *harness) apiHeaders(b *bffProc) map[string]string {
	return map[string]string{"Cookie": b.cookie, "X-CSRF": "1", "Accept": "application/json"}
}

// measure checks each row answers 200, warms each up, then runs rounds of
// every row in turn (interleaved, so drift on a shared machine hits every
// row alike). rows[0] is the floor. Any error answer fails the run.
func (h *harness) measure(ctx context.Context, ld *loader, rows []*row) error {
	for _, r := range rows {
		if r.skip != "" {
			continue
		}
		if err := checkGet(ctx, r.target); err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		if h.o.warmup > 0 {
			if _, err := h.load(ctx, ld, r, h.o.warmup); err != nil {
				return err
			}
		}
	}
	for round := 1; round <= h.o.rounds; round++ {
		var floorRPS float64
		for i, r := range rows {
			if r.skip != "" {
				continue
			}
			res, err := h.load(ctx, ld, r, h.o.duration)
			if err != nil {
				return err
			}
			if i == 0 {
				floorRPS = res.RPS
			}
			r.results = append(r.results, res)
			r.ratios = append(r.ratios, res.RPS/floorRPS)
			h.logf("round %d/%d  %-42s %9.0f req/s  p50 %-9s p99 %-9s", round, h.o.rounds, r.name, res.RPS, fmtDur(res.P50), fmtDur(res.P99))
		}
	}
	return nil
}

// load runs wrk once and fails on any error answer.
func (h *harness) load(ctx context.Context, ld *loader, r *row, d time.Duration) (wrkResult, error) {
	res, err := ld.run(ctx, r.target, d)
	if err != nil {
		return res, fmt.Errorf("%s: %w", r.name, err)
	}
	if res.Errors() > 0 {
		return res, fmt.Errorf("%s: %d non-2xx/3xx answers and %d socket errors in %d requests",
			r.name, res.Non2xx, res.SocketErrors, res.Requests)
	}
	return res, nil
}

// checkLog reads a BFF's JSON log: every request line whose route starts
// with one of routes must be 2xx (wrk counts 3xx as success; the log does
// not), and nothing may be logged at ERROR.
func checkLog(path string, routes []string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	bad, errorsLogged, requests := 0, 0, 0
	for sc.Scan() {
		line := sc.Bytes()
		var e struct {
			Level  string `json:"level"`
			Msg    string `json:"msg"`
			Route  string `json:"route"`
			Status int    `json:"status"`
		}
		if json.Unmarshal(line, &e) != nil {
			continue // not a log line (should not happen; harmless)
		}
		if e.Level == "ERROR" {
			errorsLogged++
		}
		if e.Msg == "request" && slices.ContainsFunc(routes, func(p string) bool { return strings.HasPrefix(e.Route, p) }) {
			requests++
			if e.Status < 200 || e.Status > 299 {
				bad++
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if requests == 0 {
		return fmt.Errorf("no request lines for %v (is request logging at info on?)", routes)
	}
	if bad > 0 || errorsLogged > 0 {
		return fmt.Errorf("%d of %d requests to %v were not 2xx, %d ERROR lines", bad, requests, routes, errorsLogged)
	}
	return nil
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	}
}
