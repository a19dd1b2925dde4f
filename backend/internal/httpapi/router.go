// Package httpapi is the BFF's HTTP surface: the gin router, thin handlers
// over package authflow (the OpenID Connect flow), package signin (pending
// sign-ins, kept by the browser) and package session (the server-side
// sessions), the middleware every request goes through and the
// one mapping from errors to HTTP responses (errorFor).
//
// Routes: GET /auth/sign-in, GET /auth/callback, POST /auth/sign-out,
// POST /auth/backchannel-logout, GET /api/me and ANY /api/proxy/{route}/…
// (every /api route requires X-CSRF: 1), GET /healthz, GET /readyz, and
// the SPA (or a small landing page) at /. Never /metrics: the caller serves
// Options.Metrics on a listener of its own. Tokens are refreshed transparently on the requests that use
// them (package refresh; tokens.go).
package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/background"
	"github.com/logto-bff/bff/backend/internal/metrics"
	"github.com/logto-bff/bff/backend/internal/proxy"
	"github.com/logto-bff/bff/backend/internal/refresh"
	"github.com/logto-bff/bff/backend/internal/revocation"
	"github.com/logto-bff/bff/backend/internal/routes"
	"github.com/logto-bff/bff/backend/internal/session"
	"github.com/logto-bff/bff/backend/internal/signin"
)

// DefaultMaxBodyBytes bounds request bodies on /auth and /api.
const DefaultMaxBodyBytes = 64 << 10

// Options are the dependencies of the handler. Sessions, SignIn, Auth and
// PublicURL are required.
type Options struct {
	// Sessions stores sessions.
	Sessions *session.Manager
	// SignIn keeps pending sign-ins with the browser (sealed into the
	// state) and makes each state single-use.
	SignIn *signin.Keeper
	// Auth yields the discovered authflow.Client (or ErrUnavailable while
	// Logto has not been discovered).
	Auth *authflow.Discovery
	// PublicURL is the BFF's public origin (scheme://host[:port]); it is
	// the only Origin allowed to sign out.
	PublicURL string
	// IdPOrigin is Logto's origin, allowed as a form-action target in the
	// Content-Security-Policy (sign-out redirects there). Optional.
	IdPOrigin string
	// SPADir is a built SPA to serve at /; "" serves a small landing page.
	SPADir string
	// HSTS adds Strict-Transport-Security (set it when PublicURL is https).
	HSTS bool
	// MaxBodyBytes bounds request bodies on /auth and /api (default
	// DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Logger receives one line per request and problems; nil discards.
	Logger *slog.Logger
	// RequestLog, when set, receives the request lines instead of Logger
	// (the same JSON keys and values, buffered: see RequestLog). Set it
	// when Logger is a JSON handler on the same writer.
	RequestLog *RequestLog
	// Now is the clock for token expiry decisions; nil means time.Now. It
	// must agree with the session.Manager's and authflow.Client's clocks.
	Now func() time.Time
	// RefreshMargin: an access or resource token expiring within it —
	// capped at a twentieth of the token's lifetime, see refresh.Margin —
	// is refreshed before use (zero: only expired ones).
	RefreshMargin time.Duration
	// Routes are the API proxy's upstreams (config BFF_API_ROUTES); none
	// makes every /api/proxy route a 404.
	Routes []routes.Route
	// ProxyTransport replaces the proxy's upstream transport (tests,
	// benchmarks). Nil means newProxyTransport.
	ProxyTransport http.RoundTripper
	// Metrics receives request, sign-in/out, refresh, back-channel, proxy
	// and store metrics; nil records nothing.
	Metrics *metrics.Metrics
	// Background tracks work that outlives its request (revocations, the
	// save of rotated tokens after a store failure), so the caller can
	// drain it on shutdown. Nil: a tracker nobody drains.
	Background *background.Tracker
	// Revoker revokes refresh tokens of ended sessions (its Background
	// should be Background). Nil: one that only logs what it could not
	// deliver.
	Revoker *revocation.Revoker
}

// server holds the handlers' dependencies.
type server struct {
	sessions     *session.Manager
	signin       *signin.Keeper
	auth         *authflow.Discovery
	log          *slog.Logger
	reqLog       *RequestLog // nil: request lines go through log
	publicOrigin string
	pageCSP      string
	spaCSP       string
	hsts         bool
	spa          *spaFiles        // nil: no SPA configured
	metrics      *metrics.Metrics // nil records nothing
	proxy        *proxy.Proxy
	routeNames   map[string]bool // configured proxy route names
	verifiers    logoutVerifiers
	refresher    *refresh.Refresher
	revoker      *revocation.Revoker
}

// New builds the BFF's http.Handler. It sets gin to release mode and uses
// none of gin's default middleware (its logger and recovery print
// requests); the handler logs through Options.Logger only.
func New(opts Options) (http.Handler, error) {
	if opts.Sessions == nil || opts.SignIn == nil || opts.Auth == nil || opts.PublicURL == "" {
		return nil, errors.New("httpapi: Sessions, SignIn, Auth and PublicURL are required")
	}
	pub, err := url.Parse(opts.PublicURL)
	if err != nil || pub.Scheme == "" || pub.Host == "" {
		return nil, errors.New("httpapi: PublicURL must be an absolute URL")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RefreshMargin < 0 {
		return nil, errors.New("httpapi: RefreshMargin must not be negative")
	}
	formAction := "'self'"
	if opts.IdPOrigin != "" {
		formAction += " " + opts.IdPOrigin
	}
	s := &server{
		sessions:     opts.Sessions,
		signin:       opts.SignIn,
		auth:         opts.Auth,
		log:          opts.Logger,
		reqLog:       opts.RequestLog,
		publicOrigin: pub.Scheme + "://" + pub.Host,
		hsts:         opts.HSTS,
		metrics:      opts.Metrics,
		// The BFF's own pages: no script, one hashed style block; sign-out
		// redirects a form post to Logto, which form-action must allow.
		pageCSP: "default-src 'none'; style-src " + pageStyleHash + "; img-src 'self'; form-action " + formAction +
			"; frame-ancestors 'none'; base-uri 'none'",
		// The SPA: same-origin scripts and API calls only; avatars are
		// remote https images (Discord CDN, Gravatar, ...).
		spaCSP: "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; " +
			"font-src 'self' data:; connect-src 'self'; object-src 'none'; form-action " + formAction +
			"; frame-ancestors 'none'; base-uri 'self'",
	}
	if opts.SPADir != "" {
		if s.spa, err = openSPA(opts.SPADir); err != nil {
			return nil, err
		}
	}
	if opts.Background == nil {
		opts.Background = background.New(opts.Logger)
	}
	s.revoker = opts.Revoker
	if s.revoker == nil {
		s.revoker = revocation.New(revocation.Config{Background: opts.Background, Logger: opts.Logger})
	}
	s.refresher, err = refresh.New(refresh.Config{
		Clients: opts.Auth, Sessions: opts.Sessions, Margin: opts.RefreshMargin, Budget: requestTimeout,
		Now: opts.Now, Logger: opts.Logger, Metrics: opts.Metrics, Background: opts.Background, Revoker: s.revoker,
	})
	if err != nil {
		return nil, err
	}
	if s.proxy, err = s.newProxy(opts.Routes, opts.ProxyTransport); err != nil {
		return nil, err
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = false
	r.ContextWithFallback = true
	r.Use(s.observe, s.accessLog, s.recovery, s.securityHeaders)

	auth := r.Group("/auth", bodyLimit(opts.MaxBodyBytes))
	auth.GET("/sign-in", s.signIn)
	auth.GET("/callback", s.callback)
	auth.POST("/sign-out", s.signOut)
	// Server to server: no CSRF/Origin check, its own (JSON) body limit.
	r.POST("/auth/backchannel-logout", s.backchannelLogout)

	api := r.Group("/api", requireCSRF, bodyLimit(opts.MaxBodyBytes))
	api.GET("/me", s.me)
	// The proxy bounds bodies itself (its own, larger limit) and streams.
	r.Any("/api/proxy/*path", requireCSRF, s.proxyRequest)

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.NoRoute(s.noRoute)
	return r, nil
}

// noRoute serves the SPA (GET/HEAD outside /api and /auth), or the JSON /
// HTML 404. Unknown /api routes still require X-CSRF first.
func (s *server) noRoute(c *gin.Context) {
	p := c.Request.URL.Path
	switch {
	case p == "/api" || strings.HasPrefix(p, "/api/"):
		c.Set(routeKey, "/api/*")
		requireCSRF(c)
		if !c.IsAborted() {
			fail(c, errNotFound)
		}
	case p == "/auth" || strings.HasPrefix(p, "/auth/"):
		c.Set(routeKey, "/auth/*")
		fail(c, errNotFound)
	case c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead:
		c.Set(routeKey, "unmatched")
		fail(c, errNotFound)
	case s.spa != nil:
		c.Set(routeKey, "spa")
		c.Header("Content-Security-Policy", s.spaCSP)
		s.spa.serve(c)
	case p == "/":
		c.Set(routeKey, "/")
		s.landing(c)
	default:
		c.Set(routeKey, "unmatched")
		fail(c, errNotFound)
	}
}

// redirect answers with status and Location exactly as given (no path
// cleaning, unlike http.Redirect).
func redirect(c *gin.Context, status int, location string) {
	c.Header("Location", location)
	c.Status(status)
	c.Writer.WriteHeaderNow()
	c.Abort()
}

// contextWithTimeout derives a bounded context from the request's.
func contextWithTimeout(c *gin.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), d)
}

// requestTimeout bounds calls to Logto made while a browser waits.
const requestTimeout = 10 * time.Second
