package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/background"
	"github.com/logto-bff/bff/backend/internal/config"
	"github.com/logto-bff/bff/backend/internal/httpapi"
	"github.com/logto-bff/bff/backend/internal/metrics"
	"github.com/logto-bff/bff/backend/internal/revocation"
	"github.com/logto-bff/bff/backend/internal/session"
	"github.com/logto-bff/bff/backend/internal/signin"
	"github.com/logto-bff/bff/backend/internal/store"
)

// Server limits.
const (
	maxHeaderBytes    = 16 << 10
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	shutdownTimeout   = 15 * time.Second
	// drainTimeout bounds the wait, after the servers have stopped, for
	// background work (revocations, the save of rotated tokens): with
	// shutdownTimeout it stays within a 30 s termination grace period.
	drainTimeout = 10 * time.Second
)

// usageError is a bad command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// configError is an invalid configuration (exit status 2).
type configError struct{ problems error }

func (e configError) Error() string {
	return "invalid configuration (see bff --help):\n" + e.problems.Error()
}

func (e configError) Unwrap() error { return e.problems }

func exitCode(err error) int {
	var ue usageError
	var ce configError
	if errors.As(err, &ue) || errors.As(err, &ce) {
		return 2
	}
	return 1
}

// Ready describes a started server; run reports it through withReady.
type Ready struct {
	// Addr is the address the BFF listens on (the real port when 0 was asked).
	Addr string
	// PublicURL is the BFF's public URL.
	PublicURL string
	// IssuerURL is the identity provider's issuer.
	IssuerURL string
	// MetricsAddr is the /metrics listener's address (never Addr).
	MetricsAddr string
}

type runOptions struct {
	ready func(Ready)
}

// option tunes run; main passes none.
type option func(*runOptions)

// withReady calls f once the server accepts connections.
func withReady(f func(Ready)) option { return func(o *runOptions) { o.ready = f } }

// run is the whole program: main only wires signals to ctx. It returns when
// ctx ends (after a graceful shutdown) or on a fatal error.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, opts ...option) error {
	var ro runOptions
	for _, o := range opts {
		o(&ro)
	}
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	if cmd == "logto" {
		return runLogto(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) > 1 {
		if args[1] == "-h" || args[1] == "--help" {
			return writeUsage(stdout)
		}
		if cmd == "healthcheck" {
			return runHealthcheck(ctx, args[1:], getenv)
		}
		return usageError{fmt.Sprintf("unexpected argument %q (see bff --help)", args[1])}
	}
	switch cmd {
	case "":
		return runServe(ctx, getenv, stderr, ro)
	case "dev":
		return runDev(ctx, getenv, stdout, stderr, ro)
	case "healthcheck":
		return runHealthcheck(ctx, nil, getenv)
	case "-h", "--help", "help":
		return writeUsage(stdout)
	default:
		return usageError{fmt.Sprintf("unknown command %q (see bff --help)", cmd)}
	}
}

func writeUsage(w io.Writer) error {
	fmt.Fprint(w, `Usage:
  bff              serve, configured from the environment
  bff dev          serve against the built-in development identity provider (never in production)
  bff healthcheck  exit 0 when the local server's /healthz answers (for Docker)
  bff healthcheck --namespace-owner URL
                   the same, once URL (the owner of a shared network namespace)
                   answers; if it does not, stop this container's server so that
                   it restarts in the owner's new namespace
  bff logto setup  create or repair the app, Discord connector and API resources in Logto (bff logto --help)
  bff logto doctor check these settings against Logto (bff logto --help)
  bff --help       this help

Settings (environment variables):
`)
	if err := config.WriteHelp(w); err != nil {
		return err
	}
	fmt.Fprint(w, "\nbff dev only (everything above is honoured; LOGTO_* and the session secret are generated):\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\t%s\t%s\n", config.EnvListen, devDefaultListen, "BFF listen address, loopback only.")
	fmt.Fprintf(tw, "%s\t%s\t%s\n", config.EnvPublicURL, "http://localhost:<port>", "Public URL, loopback only.")
	fmt.Fprintf(tw, "%s\t%s\t%s\n", envDevIDPListen, devDefaultIDPListen, "Dev identity provider listen address, loopback only (issuer http://localhost:<port>/oidc).")
	fmt.Fprintf(tw, "%s\t%s\t%s\n", envDevExposeTokens, "-", "1 serves <issuer>/__dev/issued-tokens (every token issued), for browser tests.")
	if err := tw.Flush(); err != nil {
		return err
	}
	return nil
}

// runServe is `bff`: everything from the environment.
func runServe(ctx context.Context, getenv func(string) string, stderr io.Writer, ro runOptions) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return configError{err}
	}
	logger, requests := newLogger(cfg, stderr)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	defer ln.Close()
	metricsLn, err := net.Listen("tcp", cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("listen on %s (%s): %w", cfg.MetricsListen, config.EnvMetricsListen, err)
	}
	return serve(ctx, cfg, ln, metricsLn, logger, requests, ro)
}

// newLogger is the logger of cfg's format and level on w, and in JSON
// format the cheaper writer of the router's request lines on the same w
// (nil in text format: request lines then go through the logger).
func newLogger(cfg *config.Config, w io.Writer) (*slog.Logger, *httpapi.RequestLog) {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == config.LogText {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), httpapi.NewRequestLog(w, cfg.LogLevel)
}

// newSessions returns the session manager over st, which it owns (its
// Close closes st).
func newSessions(cfg *config.Config, st store.Store, logger *slog.Logger) (*session.Manager, error) {
	scfg := session.Config{
		Secret:           cfg.SessionSecret,
		Secure:           cfg.CookieSecure,
		IdleTimeout:      cfg.SessionIdleTimeout,
		AbsoluteLifetime: cfg.SessionLifetime,
		Logger:           logger.With("component", "session"),
	}
	return session.New(scfg, st)
}

// newStore builds the store BFF_SESSION_STORE names, which sessions,
// single-use marks, refresh locks and undelivered revocations share; in
// Redis mode with a near-cache of BFF_SESSION_CACHE session records for
// plain reads; in memory mode bounded by BFF_MEMORY_STORE_MAX_MB. A Redis that is down at start is not an error: the store
// dials on use.
func newStore(cfg *config.Config) (store.Store, error) {
	if cfg.SessionStore == config.StoreRedis {
		r, err := store.OpenRedis(cfg.RedisURL, store.RedisOptions{NearCache: store.NearCache{Entries: cfg.SessionCache}})
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	return store.NewMemory(store.MemoryOptions{MaxBytes: cfg.MemoryStoreMaxBytes}), nil
}

// serve runs the BFF on ln and /metrics on metricsLn (never on ln) until
// ctx ends, then shuts down gracefully. It closes both listeners, and
// requests (the request-line writer, nil in text format) last.
func serve(ctx context.Context, cfg *config.Config, ln, metricsLn net.Listener, logger *slog.Logger, requests *httpapi.RequestLog, ro runOptions) error {
	defer ln.Close()
	defer metricsLn.Close()
	if requests != nil {
		defer requests.Close() // after the servers stopped: the last lines
	}
	st, err := newStore(cfg)
	if err != nil {
		return fmt.Errorf("session store: %w", err)
	}
	sessions, err := newSessions(cfg, st, logger)
	if err != nil {
		st.Close()
		return fmt.Errorf("session store: %w", err)
	}
	// Deferred first, so it runs last: the revoker shares the store.
	defer sessions.Close()
	keeper, err := signin.New(signin.Config{Secret: cfg.SessionSecret, Secure: cfg.CookieSecure, Marker: sessions})
	if err != nil {
		return fmt.Errorf("sign-in state: %w", err)
	}

	discoveryCtx, stopDiscovery := context.WithCancel(ctx)
	defer stopDiscovery()
	disc := authflow.StartDiscovery(discoveryCtx, authflow.Config{
		Issuer:                cfg.Issuer(),
		ClientID:              cfg.AppID,
		ClientSecret:          cfg.AppSecret,
		RedirectURL:           cfg.RedirectURL(),
		PostLogoutRedirectURL: cfg.PostLogoutRedirectURL(),
		Scopes:                cfg.Scopes,
		Resources:             cfg.Resources,
		ClockSkew:             cfg.ClockSkew,
	}, authflow.DiscoveryOptions{Logger: logger.With("component", "discovery")})

	m := metrics.New()
	bg := background.New(logger.With("component", "background"))
	revoker := revocation.New(revocation.Config{Background: bg, Store: st, Logger: logger.With("component", "revocation")})
	// Any replica delivers the revocations any replica could not.
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	sweeping := make(chan struct{})
	go func() {
		defer close(sweeping)
		revoker.Run(sweepCtx, disc)
	}()
	handler, err := httpapi.New(httpapi.Options{
		Sessions:      sessions,
		SignIn:        keeper,
		Auth:          disc,
		PublicURL:     cfg.PublicURL,
		IdPOrigin:     origin(cfg.LogtoEndpoint),
		SPADir:        cfg.SPADir,
		HSTS:          strings.HasPrefix(cfg.PublicURL, "https://"),
		Logger:        logger,
		RequestLog:    requests,
		RefreshMargin: cfg.RefreshMargin,
		Routes:        cfg.APIRoutes,
		Metrics:       m,
		Background:    bg,
		Revoker:       revoker,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	servers := []*http.Server{newServer(ctx, handler, logger), newServer(ctx, mux, logger)}
	listeners := []net.Listener{ln, metricsLn}
	ready := Ready{Addr: ln.Addr().String(), PublicURL: cfg.PublicURL, IssuerURL: cfg.Issuer(), MetricsAddr: metricsLn.Addr().String()}
	served := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { served <- srv.Serve(listeners[i]) }()
	}
	logger.Info("listening", "addr", ready.Addr, "public_url", cfg.PublicURL, "issuer", cfg.Issuer(),
		"session_store", cfg.SessionStore, "spa_dir", cfg.SPADir, "api_routes", len(cfg.APIRoutes), "metrics", ready.MetricsAddr)
	if ro.ready != nil {
		ro.ready(ready)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
	}
	// No request is running any more: wait for the work they left behind
	// (it needs the stores, closed by the deferred Close after this). The
	// sweep ends with ctx; a revocation it could not finish stays recorded.
	<-sweeping
	if err := bg.Drain(drainTimeout); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// newServer is an http.Server with the BFF's limits.
func newServer(ctx context.Context, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// origin is scheme://host of a URL, or "".
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
