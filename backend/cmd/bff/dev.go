package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/logto-bff/bff/backend/internal/config"
	"github.com/logto-bff/bff/backend/internal/devidp"
)

// Settings read by `bff dev` only.
const (
	envDevIDPListen     = "DEV_IDP_LISTEN"
	envDevExposeTokens  = "BFF_DEV_EXPOSE_TOKENS"
	devDefaultListen    = "127.0.0.1:8080"
	devDefaultIDPListen = "127.0.0.1:3001"
	devClientID         = "bff-dev"
	// devScopes asks for everything the dev IdP can put in /api/me, and the
	// demo API's permission (API scopes are requested at sign-in, as with
	// Logto).
	devScopes = "openid profile email offline_access identities roles custom_data " +
		"urn:logto:scope:organizations urn:logto:scope:organization_roles read:demo"
)

// runDev is `bff dev`: the BFF and the built-in development identity
// provider, each on its own loopback listener, with zero configuration
// (random session secret, cookies without Secure, client registered
// automatically). Non-loopback addresses are refused outright.
func runDev(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer, ro runOptions) error {
	listen := orDefault(getenv(config.EnvListen), devDefaultListen)
	idpListen := orDefault(getenv(envDevIDPListen), devDefaultIDPListen)
	bffLn, err := listenLoopback(listen)
	if err != nil {
		return fmt.Errorf("bff dev listens on loopback only (%s=%q): %w", config.EnvListen, listen, err)
	}
	defer bffLn.Close()
	idpLn, err := devidp.ListenLoopback(idpListen)
	if err != nil {
		return fmt.Errorf("bff dev listens on loopback only (%s=%q): %w", envDevIDPListen, idpListen, err)
	}
	defer idpLn.Close()

	publicURL := strings.TrimRight(getenv(config.EnvPublicURL), "/")
	if publicURL == "" {
		publicURL = "http://localhost:" + port(bffLn)
	}
	if u, err := url.Parse(publicURL); err != nil || !config.IsLoopbackHost(u.Hostname()) {
		return fmt.Errorf("bff dev serves loopback only: %s must be on localhost or a loopback address, got %q", config.EnvPublicURL, publicURL)
	}
	endpoint := "http://localhost:" + port(idpLn)
	secret, appSecret := randomHex(32), randomHex(24)
	// The demo API: a resource server on its own loopback port that the
	// default route "demo" proxies to (random port; nothing to configure).
	demoLn, err := listenLoopback("127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("bff dev: demo API: %w", err)
	}
	defer demoLn.Close()
	demoUpstream := "http://" + demoLn.Addr().String()

	// The dev IdP and the BFF read the same variables as production; dev
	// supplies what it generates and defaults the rest for development.
	devEnv := map[string]string{
		config.EnvLogtoEndpoint:  endpoint,
		config.EnvLogtoAppID:     devClientID,
		config.EnvLogtoAppSecret: appSecret,
		config.EnvSessionSecret:  secret,
		config.EnvCookieSecure:   "false",
		config.EnvPublicURL:      publicURL,
		config.EnvListen:         bffLn.Addr().String(),
	}
	devDefaults := map[string]string{
		config.EnvLogtoScopes:    devScopes,
		config.EnvLogtoResources: devidp.DefaultResourceIndicator,
		config.EnvLogFormat:      config.LogText,
		config.EnvAPIRoutes:      demoRouteName + "=" + demoUpstream + "|" + devidp.DefaultResourceIndicator,
	}
	cfg, err := config.Load(func(name string) string {
		if v, ok := devEnv[name]; ok {
			return v
		}
		if v := getenv(name); v != "" {
			return v
		}
		return devDefaults[name]
	})
	if err != nil {
		return configError{err}
	}
	metricsLn, err := listenLoopback(cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("bff dev listens on loopback only (%s=%q): %w", config.EnvMetricsListen, cfg.MetricsListen, err)
	}
	defer metricsLn.Close()
	logger, requests := newLogger(cfg, stderr)
	logger.Warn("bff dev: DEVELOPMENT ONLY — built-in identity provider with fixed users and plain-text passwords; never expose it")

	idp, err := devidp.New(devidp.Config{
		Issuer: cfg.Issuer(),
		Clients: []devidp.Client{{
			ID: devClientID, Secret: appSecret, Name: "bff dev",
			RedirectURIs:                     []string{cfg.RedirectURL()},
			PostLogoutRedirectURIs:           []string{cfg.PostLogoutRedirectURL()},
			BackchannelLogoutURI:             cfg.BackchannelLogoutURL(),
			BackchannelLogoutSessionRequired: true,
		}},
		ExposeIssuedTokens: getenv(envDevExposeTokens) == "1",
		Logger:             logger.With("component", "devidp"),
	})
	if err != nil {
		return fmt.Errorf("dev identity provider: %w", err)
	}
	idpSrv := &http.Server{
		Handler:           idp,
		ReadHeaderTimeout: readHeaderTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	idpDone := make(chan error, 1)
	go func() { idpDone <- idpSrv.Serve(idpLn) }()
	defer func() {
		_ = idpSrv.Close()
		<-idpDone
	}()

	demoSrv := &http.Server{
		Handler:           newDemoAPI(cfg.Issuer(), devidp.DefaultResourceIndicator),
		ReadHeaderTimeout: readHeaderTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	demoDone := make(chan error, 1)
	go func() { demoDone <- demoSrv.Serve(demoLn) }()
	defer func() {
		_ = demoSrv.Close()
		<-demoDone
	}()

	writeDevBanner(stdout, cfg, idp, demoUpstream, metricsLn.Addr().String())
	return serve(ctx, cfg, bffLn, metricsLn, logger, requests, ro)
}

func writeDevBanner(w io.Writer, cfg *config.Config, idp *devidp.Provider, demoUpstream, metricsAddr string) {
	line := strings.Repeat("=", 72)
	fmt.Fprintf(w, "%s\n  bff dev — FOR DEVELOPMENT ONLY. Do not expose these ports.\n%s\n", line, line)
	fmt.Fprintf(w, "  Open:     %s/\n", cfg.PublicURL)
	fmt.Fprintf(w, "  Issuer:   %s (built-in dev identity provider)\n", cfg.Issuer())
	if cfg.SPADir == "" {
		fmt.Fprintf(w, "  SPA:      none (set %s to a built SPA, e.g. frontend/dist)\n", config.EnvSPADir)
	} else {
		fmt.Fprintf(w, "  SPA:      %s\n", cfg.SPADir)
	}
	for _, r := range cfg.APIRoutes {
		target := "resource " + r.Resource
		if r.Organization != "" {
			target = "organization " + r.Organization
		}
		note := ""
		if r.Name == demoRouteName && r.Upstream.String() == demoUpstream {
			note = "\n            built-in demo API (checks the bearer JWT with the dev IdP's JWKS): GET " + cfg.PublicURL + "/api/proxy/demo/hello"
		}
		fmt.Fprintf(w, "  API:      %s/api/proxy/%s/… → %s, token for %s%s\n", cfg.PublicURL, r.Name, r.Upstream.Redacted(), target, note)
	}
	fmt.Fprintf(w, "  Metrics:  http://%s/metrics\n", metricsAddr)
	fmt.Fprintf(w, "\n%s\n%s\n", strings.TrimRight(idp.Describe(), "\n"), line)
}

// listenLoopback listens on addr only if its host is localhost or a
// loopback IP; an empty host (every interface) is refused.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if !config.IsLoopbackHost(host) {
		return nil, errors.New("refusing a non-loopback address: bff dev is for development only")
	}
	return net.Listen("tcp", addr)
}

func orDefault(v, def string) string {
	if v = strings.TrimSpace(v); v != "" {
		return v
	}
	return def
}

func port(ln net.Listener) string {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("crypto/rand failed")) // never happens on supported platforms
	}
	return hex.EncodeToString(b)
}
