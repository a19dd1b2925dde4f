package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
)

// report collects every figure and prints them as Markdown.
type report struct {
	o         options
	rows      []*row
	versus    []versus // BFF ÷ oauth2-proxy, when it ran
	footprint *footprint
	// footprintAPI is the same session after one proxied call (which adds
	// the API resource's access token to it).
	footprintAPI *footprint
	rss          *rssResult
	scale        []scalePhase
	// scaleFloor is the floor measured with the scale rows.
	scaleFloor *row
	// redisConns is how many connections Redis accepted while the rows
	// ran (the harness's own two INFO connections excluded).
	redisConns int64
	// upstreamConns is how many connections the upstream accepted while
	// the rows ran (wrk's for the floor, the BFF's pool for the proxy).
	upstreamConns int64
}

// targets are the ratios to the floor each row must reach.
var targets = map[string]float64{
	rowMeMemory: 0.50,
	rowMeRedis:  0.20,
	rowProxied:  0.10,
}

const footprintTarget = 4 << 10

func (r *report) write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format+"\n", args...) }

	p("## BFF load benchmark (bffbench)")
	p("")
	placement := "Everything shares the machine, no pinning: wrk, redis-server, the BFF processes, oauth2-proxy and the harness process (dev IdP + upstream)."
	if r.o.pin {
		placement = "Pinned with taskset: redis-server, the BFF processes, oauth2-proxy and the harness process (dev IdP + upstream) on CPU " + serverCPU + ", wrk on CPU " + wrkCPU + "."
	}
	p("Machine: %d CPUs (%s), %s, %s. wrk: %d thread(s), %d keep-alive connections. %s",
		runtime.NumCPU(), cpuModel(), goVersion(), runtime.GOOS+"/"+runtime.GOARCH, r.o.threads, r.o.connections, placement)
	p("Method: %d interleaved rounds × %s per row after a %s warm-up per row; figures are medians over rounds; the ratio is the median of per-round ratios to the floor of the same round. Request logging as each side has it by default: the BFF's JSON request log at info (one line per request, to a file); oauth2-proxy %s with its default request log (one text line per request, to a file).",
		r.o.rounds, r.o.duration, r.o.warmup, oauth2ProxyVersion)
	p("")
	p("| row | req/s | p50 | p99 | ratio to floor | target |")
	p("|---|---:|---:|---:|---:|---|")
	for i, row := range r.rows {
		if row.skip != "" {
			p("| %s | – | – | – | – | %s |", row.name, row.skip)
			continue
		}
		ratio, tgt := "1.00", "–"
		if i > 0 {
			ratio = fmt.Sprintf("%.2f", row.medianRatio())
			if t, ok := targets[row.name]; ok {
				tgt = fmt.Sprintf("≥ %.2f: %s", t, metOrMissed(row.medianRatio() >= t))
			}
		}
		p("| %s | %.0f | %s | %s | %s | %s |", row.name, row.medianRPS(), fmtDur(row.medianP50()), fmtDur(row.medianP99()), ratio, tgt)
	}
	if len(r.versus) > 0 {
		p("")
		p("Ratios of rows measured in the same rounds (median of per-round ratios); oauth2-proxy %s runs with its Redis session store on the same Redis and the same upstream:", oauth2ProxyVersion)
		p("")
		p("| ratio | value | target |")
		p("|---|---:|---|")
		for _, v := range r.versus {
			p("| %s | %.2f | ≥ %.1f: %s |", v.name, v.ratio(), v.target, metOrMissed(v.ratio() >= v.target))
		}
	}
	p("")
	p("Zero errors: every wrk run had no non-2xx/3xx answer and no socket error, and the BFF logs show only 2xx for the loaded /api routes and no ERROR line.")
	floorRuns := r.o.rounds
	if r.o.warmup > 0 {
		floorRuns++
	}
	rest := "the rest the BFF proxy's keep-alive pool"
	if !r.o.skipOAuth2Proxy {
		rest = "the rest the BFF proxy's keep-alive pool and oauth2-proxy's (Go's default transport keeps 2 idle connections per upstream, so under load it opens new ones)"
	}
	p("Connections opened while the rows ran: Redis accepted %d (the BFFs' and oauth2-proxy's pools), the upstream %d, of which ~%d are wrk's own for the floor runs (%d per run), %s.",
		r.redisConns, r.upstreamConns, floorRuns*r.o.connections+1, r.o.connections, rest)

	if f := r.footprint; f != nil {
		p("")
		p("### Memory")
		p("")
		p("- Redis, one real Logto-shaped session (nelly, signed in through \"Continue with Discord\"): MEMORY USAGE = %d bytes (target ≤ %d: %s); the value is %d bytes of JSON: %s.",
			f.memoryUsage, footprintTarget, metOrMissed(f.memoryUsage <= footprintTarget), f.valueBytes, partsLine(f.parts))
	}
	if f := r.footprintAPI; f != nil {
		p("- The same session after one proxied call (it now also holds the API resource's access token): MEMORY USAGE = %d bytes (target ≤ %d: %s); value %d bytes: %s.",
			f.memoryUsage, footprintTarget, metOrMissed(f.memoryUsage <= footprintTarget), f.valueBytes, partsLine(f.parts))
	}
	if s := r.rss; s != nil {
		p("- BFF (memory store) VmRSS: %.1f MiB before, %.1f MiB with %d more sessions (+%.0f bytes per session); Go heap (go_memstats_heap_alloc_bytes from its /metrics, which counts not-yet-collected garbage too): %.1f → %.1f MiB (+%.0f bytes per session). Method: %d real sign-ins through the BFF (/auth/sign-in → the dev IdP's SSO session, no form after the first → callback: code exchange, ID-token check, userinfo → new session), %d concurrent browsers, %.0f sign-ins/s (%s). The sessions belong to %d users, %d each (one IdP session per user; the BFF keeps at most 256 concurrent sessions per user).",
			mib(s.before), mib(s.after), s.sessions, float64(s.after-s.before)/float64(s.sessions),
			mib(s.heapBefore), mib(s.heapAfter), float64(s.heapAfter-s.heapBefore)/float64(s.sessions), s.sessions, fillWorkers, float64(s.sessions)/s.elapsed.Seconds(), s.elapsed.Round(1e9), len(fillUsers(s.sessions)), fillPerUser)
	}
	if len(r.scale) > 0 {
		p("")
		p("### Scale: /api/me (Redis) with 1,000 vs %d sessions in Redis", r.scale[len(r.scale)-1].keys)
		p("")
		p("Two identical Redis-store BFFs, each with its own redis-server, loaded in interleaved rounds with the floor. Keys are DUMP/RESTORE copies of the instance's real session key (alice's) under random ids of the real shape (same value, same TTL).")
		p("")
		p("| session keys in Redis | Redis used_memory | /api/me req/s | p50 | p99 | ratio to floor |")
		p("|---:|---:|---:|---:|---:|---:|")
		for _, ph := range r.scale {
			p("| %d | %.1f MiB | %.0f | %s | %s | %.2f |", ph.keys, mib(ph.usedMemory), ph.me.medianRPS(),
				fmtDur(ph.me.medianP50()), fmtDur(ph.me.medianP99()), ph.me.medianRatio())
		}
		if r.scaleFloor != nil {
			p("")
			p("Floor during these rounds: %.0f req/s.", r.scaleFloor.medianRPS())
		}
		if len(r.scale) == 2 {
			a, b := r.scale[0].me, r.scale[1].me
			p("Difference (large vs small): req/s %+.1f%%, p50 %+.1f%%, p99 %+.1f%%; round-to-round spread of req/s: %.1f%% (small), %.1f%% (large).",
				pct(a.medianRPS(), b.medianRPS()), pct(float64(a.medianP50()), float64(b.medianP50())),
				pct(float64(a.medianP99()), float64(b.medianP99())), spreadRPS(a), spreadRPS(b))
		}
	}
	return bw.Flush()
}

func metOrMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func pct(a, b float64) float64 {
	if a == 0 {
		return 0
	}
	return (b - a) / a * 100
}

// spreadRPS is spread of a row's req/s over rounds.
func spreadRPS(r *row) float64 {
	return spread(mapSlice(r.results, func(w wrkResult) float64 { return w.RPS }))
}

func mapSlice[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// spread is (max-min)/median of xs, in percent.
func spread(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	m := medianOf(xs)
	if m == 0 {
		return 0
	}
	return (slices.Max(xs) - slices.Min(xs)) / m * 100
}

func partsLine(parts map[string]int) string {
	keys := make([]string, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return parts[b] - parts[a] })
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s %d", k, parts[k]))
	}
	return strings.Join(out, ", ")
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// goVersion is the toolchain that built the BFF (`go version`), or the
// harness's own runtime version.
func goVersion() string {
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		if v := strings.TrimSpace(string(out)); v != "" {
			return v
		}
	}
	return runtime.Version()
}
