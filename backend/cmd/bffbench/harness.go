package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/logto-bff/bff/backend/internal/bfftest"
	"github.com/logto-bff/bff/backend/internal/config"
	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/redistest"
)

const (
	benchClientID = "bffbench"
	// benchScopes asks for everything the dev IdP can put in /api/me, as
	// `bff dev` does: a Logto-shaped session of realistic size.
	benchScopes = "openid profile email offline_access identities roles custom_data " +
		"urn:logto:scope:organizations urn:logto:scope:organization_roles"
	envAPIRoutes   = "BFF_API_ROUTES" // added by the proxy wiring; detected from `bff --help`
	proxyRouteName = "bench"
)

// bffProc is one BFF process.
type bffProc struct {
	store   string // config.StoreRedis or config.StoreMemory
	url     string // http://127.0.0.1:port
	metrics string // http://127.0.0.1:port of its own /metrics listener
	logPath string
	c       *child
	cookie  string // "bff-session=<value>" of the benchmark session
}

// harness owns everything bffbench started.
type harness struct {
	o        options
	progress io.Writer
	dir      string

	redis     *redistest.Server
	redisAddr string
	idp       *devidp.Provider
	servers   []*http.Server
	up        *upstream
	upURL     string
	bffRedis  *bffProc
	bffMem    *bffProc
	// The scale measurement's own Redis (filled to -scale-keys) and BFF,
	// started only when it runs.
	bffBig    *bffProc
	redisBig  *redistest.Server
	endpoint  string // the dev IdP's endpoint (LOGTO_ENDPOINT)
	appSecret string
	proxy     bool         // the BFF supports BFF_API_ROUTES
	o2p       *oauth2Proxy // nil with -skip-oauth2-proxy
	proxyNote string       // why the proxied row is skipped
	bffBinary string
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.progress, "bffbench: "+format+"\n", args...)
}

// setup starts Redis, the dev IdP, the upstream and both BFFs. On error the
// returned harness (if not nil) still needs close.
func setup(ctx context.Context, o options, progress io.Writer) (*harness, error) {
	if _, err := exec.LookPath(o.wrkBinary); err != nil {
		return nil, fmt.Errorf("wrk not found (%w): install it with `apt-get install -y wrk`", err)
	}
	dir, err := os.MkdirTemp("", "bffbench-")
	if err != nil {
		return nil, err
	}
	h := &harness{o: o, progress: progress, dir: dir}

	if h.bffBinary, err = h.buildBFF(ctx); err != nil {
		return h, err
	}
	if h.proxy, err = h.supportsRoutes(ctx); err != nil {
		return h, err
	}
	if !h.proxy {
		h.proxyNote = "skipped: this BFF build does not know " + envAPIRoutes + " yet"
	}
	var o2pBin string
	if !o.skipOAuth2Proxy {
		if o2pBin, err = h.installOAuth2Proxy(ctx); err != nil {
			return h, err
		}
		h.o2p = &oauth2Proxy{logPath: filepath.Join(dir, "oauth2-proxy.log"), secret: rand.Text()}
	}
	if o.pin {
		// After the builds (which use every core), before any server
		// starts: children inherit this process's affinity.
		if err := pinSelf(serverCPU); err != nil {
			return h, err
		}
		h.logf("pinned the servers to CPU %s and wrk to CPU %s", serverCPU, wrkCPU)
	}

	h.logf("starting redis-server")
	if h.redis, err = redistest.Launch(dir); err != nil {
		return h, err
	}
	h.redisAddr = h.redis.Addr()

	idpLn, err := devidp.ListenLoopback("127.0.0.1:0")
	if err != nil {
		return h, err
	}
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		idpLn.Close()
		return h, err
	}
	h.up = newUpstream()
	h.upURL = "http://" + upLn.Addr().String()
	h.serve(upLn, h.up, h.up.connState)

	h.bffRedis = &bffProc{store: config.StoreRedis, logPath: filepath.Join(dir, "bff-redis.log")}
	h.bffMem = &bffProc{store: config.StoreMemory, logPath: filepath.Join(dir, "bff-memory.log")}
	h.bffBig = &bffProc{store: config.StoreRedis, logPath: filepath.Join(dir, "bff-scale.log")}
	var redirects, postLogout []string
	for _, b := range []*bffProc{h.bffRedis, h.bffMem, h.bffBig} {
		port, err := freePort()
		if err != nil {
			idpLn.Close()
			return h, err
		}
		b.url = "http://127.0.0.1:" + strconv.Itoa(port)
		if port, err = freePort(); err != nil {
			idpLn.Close()
			return h, err
		}
		b.metrics = "http://127.0.0.1:" + strconv.Itoa(port)
		redirects = append(redirects, b.url+"/auth/callback")
		postLogout = append(postLogout, b.url+"/")
	}
	h.endpoint = "http://" + idpLn.Addr().String()
	h.appSecret = rand.Text()
	clients := []devidp.Client{{
		ID: benchClientID, Secret: h.appSecret, Name: "bffbench",
		RedirectURIs: redirects, PostLogoutRedirectURIs: postLogout,
	}}
	if h.o2p != nil {
		port, err := freePort()
		if err != nil {
			idpLn.Close()
			return h, err
		}
		h.o2p.url = "http://127.0.0.1:" + strconv.Itoa(port)
		clients = append(clients, devidp.Client{
			ID: oauth2ProxyClient, Secret: h.o2p.secret, Name: "oauth2-proxy",
			RedirectURIs: []string{h.o2p.url + "/oauth2/callback"},
		})
	}
	users := devidp.DefaultUsers()
	if !o.skipMemory {
		users = append(users, fillUsers(o.sessions)...)
	}
	h.idp, err = devidp.New(devidp.Config{
		Issuer:  h.endpoint + "/oidc",
		Clients: clients,
		Users:   users,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		idpLn.Close()
		return h, fmt.Errorf("dev identity provider: %w", err)
	}
	h.serve(idpLn, h.idp, nil)

	if err := h.startBFF(ctx, h.bffRedis, h.redisAddr); err != nil {
		return h, err
	}
	if err := h.startBFF(ctx, h.bffMem, ""); err != nil {
		return h, err
	}
	if h.o2p != nil {
		if err := h.startOAuth2Proxy(ctx, o2pBin, h.o2p); err != nil {
			return h, err
		}
	}
	return h, nil
}

// serve runs handler on ln until close; connState (optional) sees every
// connection's state changes.
func (h *harness) serve(ln net.Listener, handler http.Handler, connState func(net.Conn, http.ConnState)) {
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ConnState: connState,
		ErrorLog: slog.NewLogLogger(slog.New(slog.NewTextHandler(h.progress, nil)).Handler(), slog.LevelWarn)}
	h.servers = append(h.servers, srv)
	go func() { _ = srv.Serve(ln) }()
}

// buildBFF builds the bff command into the temporary directory (or
// returns -bff).
func (h *harness) buildBFF(ctx context.Context) (string, error) {
	if h.o.bffBinary != "" {
		return h.o.bffBinary, nil
	}
	bin := filepath.Join(h.dir, "bff")
	h.logf("building ./backend/cmd/bff")
	return bin, bfftest.Build(ctx, bin)
}

// supportsRoutes reports whether `bff --help` lists BFF_API_ROUTES.
func (h *harness) supportsRoutes(ctx context.Context) (bool, error) {
	out, err := exec.CommandContext(ctx, h.bffBinary, "--help").Output()
	if err != nil {
		return false, fmt.Errorf("bff --help: %w", err)
	}
	return bytes.Contains(out, []byte(envAPIRoutes)), nil
}

// startBFF starts b in serve mode (with redisAddr as its Redis when its
// store is Redis) on top of a clean environment (no BFF_*, LOGTO_* or
// REDIS_URL of the caller's leaks in) and waits for /readyz.
func (h *harness) startBFF(ctx context.Context, b *bffProc, redisAddr string) error {
	h.logf("starting bff (%s store) at %s", b.store, b.url)
	env := map[string]string{
		config.EnvLogtoEndpoint:  h.endpoint,
		config.EnvLogtoAppID:     benchClientID,
		config.EnvLogtoAppSecret: h.appSecret,
		config.EnvLogtoScopes:    benchScopes,
		config.EnvLogtoResources: devidp.DefaultResourceIndicator,
		config.EnvPublicURL:      b.url,
		config.EnvListen:         strings.TrimPrefix(b.url, "http://"),
		config.EnvMetricsListen:  strings.TrimPrefix(b.metrics, "http://"),
		config.EnvSessionSecret:  rand.Text() + rand.Text(),
		config.EnvSessionStore:   b.store,
		config.EnvCookieSecure:   "false",
		config.EnvLogLevel:       "info",
		config.EnvLogFormat:      config.LogJSON,
	}
	if b.store == config.StoreRedis {
		env[config.EnvRedisURL] = "redis://" + redisAddr + "/0"
	}
	if h.proxy {
		env[envAPIRoutes] = proxyRouteName + "=" + h.upURL + "/proxied|" + devidp.DefaultResourceIndicator
	}
	logFile, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(h.bffBinary)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "BFF_") || strings.HasPrefix(name, "LOGTO_") || name == "REDIS_URL" || name == "GOMAXPROCS" {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if b.c, err = startChild("bff ("+b.store+")", cmd); err != nil {
		return err
	}
	if err := waitReady(ctx, b.c, b.url+"/readyz"); err != nil {
		return fmt.Errorf("%w (log: %s)", err, tail(b.logPath, 2000))
	}
	return nil
}

// close stops every process and server the harness started and removes
// the temporary directory (unless -keep).
func (h *harness) close() {
	for _, b := range []*bffProc{h.bffRedis, h.bffMem, h.bffBig} {
		if b != nil && b.c != nil {
			b.c.stop()
		}
	}
	if h.o2p != nil && h.o2p.c != nil {
		h.o2p.c.stop()
	}
	for _, s := range h.servers {
		_ = s.Close()
	}
	for _, r := range []*redistest.Server{h.redis, h.redisBig} {
		if r != nil {
			_ = r.Close()
		}
	}
	if h.o.keep {
		h.logf("kept %s", h.dir)
		return
	}
	_ = os.RemoveAll(h.dir)
}

// tail returns up to n bytes of the end of a file, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(buf, off)
	return string(buf)
}
