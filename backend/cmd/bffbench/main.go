// Command bffbench is the BFF's load harness (`make bench`). It starts, on
// 127.0.0.1 only and cleaned up on exit (error and SIGINT included):
//
//   - a redis-server (free port, temporary directory, nothing persisted);
//   - the dev identity provider (devidp) and a trivial upstream answering a
//     ~200-byte JSON body, both inside this process;
//   - the BFF, built from ./backend/cmd/bff into a temporary directory and
//     run as two separate processes in serve mode with production-level
//     logging (JSON, info, one line per request, to a file): one with
//     BFF_SESSION_STORE=redis, one with BFF_SESSION_STORE=memory.
//
// It signs in through the real flow (/auth/sign-in, the IdP's form, the
// callback) with a cookie-jar client, then loads each row with wrk in
// interleaved rounds: the upstream directly (the floor), GET /api/me with
// Redis, a proxied route with Redis (when the BFF supports BFF_API_ROUTES)
// and GET /api/me with memory. It reports req/s, p50 and p99 per row
// (medians over rounds) and each row's ratio to the floor, the Redis
// footprint of a real Discord-user session, the BFF's resident memory with
// many sessions in the memory store, and /api/me with 1,000 vs 1,000,000
// sessions in Redis. Any non-2xx answer or socket error makes it exit 1.
//
// With oauth2-proxy (installed at a pinned version with go install unless
// -skip-oauth2-proxy) it adds two rows in the same rounds, its
// /oauth2/userinfo and its proxied request, both with its Redis session
// store on the same Redis and the same upstream, and prints the BFF ÷
// oauth2-proxy ratios. With -pin (the default on 2+ CPUs) every server
// runs on CPU 0 and wrk on CPU 1.
//
//	go run ./backend/cmd/bffbench [-quick] [-rounds 5] [-duration 5s] [-connections 32]
//	                              [-threads 1] [-skip-memory] [-skip-scale] [-skip-oauth2-proxy] [-pin=false]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bffbench:", err)
		os.Exit(1)
	}
}

// options are the command-line settings.
type options struct {
	rounds      int
	duration    time.Duration
	warmup      time.Duration
	connections int
	threads     int
	quick       bool
	skipMemory  bool
	skipScale   bool
	sessions    int // sessions created for the memory measurement
	scaleKeys   int // session keys in Redis for the scale measurement
	bffBinary   string
	wrkBinary   string
	keep        bool // keep the temporary directory (logs) for inspection
	cpuProfile  string

	skipOAuth2Proxy   bool
	oauth2ProxyBinary string
	toolsDir          string // where oauth2-proxy is installed
	pin               bool   // servers on CPU 0, wrk on CPU 1
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bffbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.rounds, "rounds", 5, "interleaved rounds (each runs every row once)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "wrk duration of one row in one round")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured wrk run per row before the first round")
	fs.IntVar(&o.connections, "connections", 32, "wrk connections (keep-alive)")
	fs.IntVar(&o.threads, "threads", 1, "wrk threads")
	fs.BoolVar(&o.quick, "quick", false, "2 rounds of 2s, 1s warm-up, 10,000 sessions for memory, 200,000 keys for scale")
	fs.BoolVar(&o.skipMemory, "skip-memory", false, "skip the memory measurements (Redis MEMORY USAGE, BFF RSS)")
	fs.BoolVar(&o.skipScale, "skip-scale", false, "skip the 1,000 vs 1,000,000 sessions in Redis measurement")
	fs.IntVar(&o.sessions, "sessions", 100_000, "sessions signed in to the memory-store BFF before reading its RSS")
	fs.IntVar(&o.scaleKeys, "scale-keys", 1_000_000, "session keys in Redis for the scale measurement")
	fs.StringVar(&o.bffBinary, "bff", "", "prebuilt bff binary (default: go build ./backend/cmd/bff)")
	fs.StringVar(&o.wrkBinary, "wrk", "wrk", "wrk binary")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (BFF and Redis logs)")
	fs.BoolVar(&o.skipOAuth2Proxy, "skip-oauth2-proxy", false, "skip the oauth2-proxy rows (no go install)")
	fs.StringVar(&o.oauth2ProxyBinary, "oauth2-proxy", "", "prebuilt oauth2-proxy binary (default: go install "+oauth2ProxyModule+"@"+oauth2ProxyVersion+" into -tools-dir)")
	fs.StringVar(&o.toolsDir, "tools-dir", "bin/tools", "where oauth2-proxy is installed")
	fs.BoolVar(&o.pin, "pin", runtime.NumCPU() >= 2, "pin the servers (Redis, BFFs, oauth2-proxy, this process) to CPU 0 and wrk to CPU 1 with taskset")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (the dev IdP and the upstream) to `file`")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["rounds"] {
			o.rounds = 2
		}
		if !set["duration"] {
			o.duration = 2 * time.Second
		}
		if !set["warmup"] {
			o.warmup = time.Second
		}
		if !set["sessions"] {
			o.sessions = 10_000
		}
		if !set["scale-keys"] {
			o.scaleKeys = 200_000
		}
	}
	switch {
	case o.rounds < 1:
		return o, errors.New("-rounds must be at least 1")
	case o.duration < time.Second:
		return o, errors.New("-duration must be at least 1s (wrk's resolution)")
	case o.connections < 1 || o.threads < 1 || o.threads > o.connections:
		return o, errors.New("-connections and -threads must be positive, threads ≤ connections")
	case o.sessions < 1:
		return o, errors.New("-sessions must be positive")
	case o.scaleKeys < 2000:
		return o, errors.New("-scale-keys must be at least 2000")
	}
	return o, nil
}

// run is the whole program; main only wires signals to ctx.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	h, err := setup(ctx, o, stderr)
	if h != nil {
		defer h.close()
	}
	if err != nil {
		return err
	}
	return h.bench(ctx, stdout)
}
