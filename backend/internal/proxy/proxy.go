// Package proxy is the BFF's allow-listed API proxy: the browser reaches
// only operator-configured upstreams, under their base path, and the
// upstream sees a bearer token the browser never holds.
//
// A request to Prefix+"<route>/<rest>?<query>" goes to the route's
// upstream base joined with <rest> (see JoinPath) with the query as sent.
// The proxy replaces the client's credentials with "Authorization: Bearer
// <token>" from a TokenSource, strips cookies, the CSRF header, hop-by-hop
// and forwarding headers, streams both bodies, and keeps upstreams from
// setting cookies or origin-wide policy on the BFF's origin.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/logto-bff/bff/backend/internal/routes"
)

// Prefix is the path under which ServeHTTP expects requests:
// Prefix+"<route name>/<rest>".
const Prefix = "/api/proxy/"

// TokenSource supplies the access token for a proxied request; the BFF
// implements it with the session lookup and (single-flight) refresh. Its
// errors are passed unchanged to Options.ErrorHandler. It is called only
// for requests that passed route, method and path checks, with the inbound
// request (cookies included); it must not modify route.Upstream.
type TokenSource interface {
	Token(ctx context.Context, r *http.Request, route routes.Route) (string, error)
}

// Options tune a Proxy. The zero value is usable.
type Options struct {
	// Timeout bounds how long the upstream may take to send response
	// headers (and to accept the connection). Zero means 30 s. Streaming
	// response bodies are not bounded by it (see IdleTimeout).
	Timeout time.Duration
	// IdleTimeout bounds a pause in a proxied exchange once the upstream is
	// contacted: the browser's request body, the upstream's response body
	// and the browser's reading of it must each make progress at least
	// this often, or the exchange is cut. It replaces the server's
	// whole-request ReadTimeout and WriteTimeout for proxied requests, so
	// server-sent events and long downloads last as long as bytes flow.
	// Zero means 60 s.
	IdleTimeout time.Duration
	// MaxIdleConnsPerHost is the keep-alive pool size per upstream. Zero
	// means 256 (Go's default of 2 throttles a busy proxy).
	MaxIdleConnsPerHost int
	// MaxBodyBytes bounds the request body. Zero means 10 MiB.
	MaxBodyBytes int64
	// Transport replaces the proxy's own transport (Timeout and
	// MaxIdleConnsPerHost then do not apply; the transport owns them).
	Transport http.RoundTripper
	// ErrorHandler writes the response for every error (see the Err
	// variables; TokenSource errors pass through). Nil means a handler
	// writing the BFF's JSON error shape.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives upstream failures (default ErrorHandler only),
	// mid-stream copy errors and client disconnects. Nil discards.
	// Nothing logged contains a token, header value or query string.
	Logger *slog.Logger
}

const (
	defaultTimeout             = 30 * time.Second
	defaultMaxIdleConnsPerHost = 256
	defaultMaxBodyBytes        = 10 << 20
)

// Proxy forwards requests to allow-listed upstreams. It is safe for
// concurrent use.
type Proxy struct {
	routes       map[string]routes.Route
	tokens       TokenSource
	rp           *httputil.ReverseProxy
	maxBody      int64
	idle         time.Duration
	errorHandler func(http.ResponseWriter, *http.Request, error)
	log          *slog.Logger
}

var _ http.Handler = (*Proxy)(nil)

// New returns a Proxy for rs (as routes.Parse returns them; programmatic
// routes are checked the same way) taking tokens from tokens. Without
// Options.Transport, the proxy uses its own transport: no proxy from the
// environment (an operator's HTTP_PROXY must not see bearer tokens), TLS
// 1.2 or later, the keep-alive pool and timeouts of Options, and no
// transparent decompression. Redirects are never followed: the browser
// receives them.
func New(rs []routes.Route, tokens TokenSource, opts Options) (*Proxy, error) {
	if tokens == nil {
		return nil, errors.New("proxy: nil TokenSource")
	}
	p := &Proxy{routes: make(map[string]routes.Route, len(rs)), tokens: tokens, maxBody: opts.MaxBodyBytes, log: opts.Logger}
	var errs []error
	for i, r := range rs {
		problems := routes.Problems(r)
		if r.Upstream == nil {
			problems = append(problems, "upstream missing")
		}
		if _, dup := p.routes[r.Name]; dup {
			problems = append(problems, "duplicate name")
		}
		for _, pr := range problems {
			errs = append(errs, fmt.Errorf("proxy: route %d %q: %s", i+1, r.Name, pr))
		}
		if len(problems) == 0 {
			u := *r.Upstream
			r.Upstream = &u // later changes by the caller cannot move the route
			p.routes[r.Name] = r
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if p.maxBody <= 0 {
		p.maxBody = defaultMaxBodyBytes
	}
	p.idle = opts.IdleTimeout
	if p.idle <= 0 {
		p.idle = defaultIdleTimeout
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.errorHandler = opts.ErrorHandler
	if p.errorHandler == nil {
		p.errorHandler = p.defaultErrorHandler
	}
	transport := opts.Transport
	if transport == nil {
		transport = NewTransport(opts.Timeout, opts.MaxIdleConnsPerHost)
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      transport,
		FlushInterval:  -1, // flush every write: server-sent events, chunked downloads
		ModifyResponse: modifyResponse,
		ErrorHandler:   p.transportError,
		ErrorLog:       log.New(logWriter{p.log}, "", 0),
		BufferPool:     &bufferPool{},
	}
	return p, nil
}

// forward carries one request's decisions from ServeHTTP to the
// ReverseProxy hooks.
type forward struct {
	in     *http.Request
	route  string
	target url.URL // JoinPath's result: scheme, host, path; no query
	token  string
	guard  *idleGuard
}

type forwardKey struct{}

// ServeHTTP proxies r, whose URL path must be Prefix+"<route>[/<rest>]".
// Checks run in this order, each failing to the ErrorHandler: route
// (ErrUnknownRoute), method (ErrMethodNotAllowed), path (ErrBadPath),
// declared body size (ErrBodyTooLarge), token (TokenSource error). Only
// then is the upstream contacted; from then on the exchange is bounded by
// Options.IdleTimeout rather than the server's read and write timeouts.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	escaped := r.URL.EscapedPath()
	if !strings.HasPrefix(escaped, Prefix) {
		p.errorHandler(w, r, fmt.Errorf("%w: path outside %s", ErrUnknownRoute, Prefix))
		return
	}
	name, rest := escaped[len(Prefix):], ""
	if i := strings.IndexByte(name, '/'); i >= 0 {
		name, rest = name[:i], name[i:]
	}
	route, ok := p.routes[name]
	if !ok {
		p.errorHandler(w, r, ErrUnknownRoute)
		return
	}
	switch strings.ToUpper(r.Method) { // some servers read methods case-insensitively
	case http.MethodTrace, "TRACK", http.MethodConnect:
		p.errorHandler(w, r, fmt.Errorf("%w: %s", ErrMethodNotAllowed, r.Method))
		return
	}
	target, err := JoinPath(route.Upstream, rest)
	if err != nil {
		p.errorHandler(w, r, fmt.Errorf("route %s: %w", name, err))
		return
	}
	if r.ContentLength > p.maxBody {
		p.errorHandler(w, r, fmt.Errorf("%w: limit %d bytes", ErrBodyTooLarge, p.maxBody))
		return
	}
	token, err := p.tokens.Token(r.Context(), r, route)
	if err != nil {
		p.errorHandler(w, r, err)
		return
	}
	if !validToken(token) {
		p.errorHandler(w, r, fmt.Errorf("proxy: route %s: token source returned an unusable token", name))
		return
	}
	hasBody := r.Body != nil && r.Body != http.NoBody
	guard, ctx := newIdleGuard(r.Context(), w, p.idle, hasBody)
	defer guard.stop()
	fwd := &forward{in: r, route: name, target: *target, token: token, guard: guard}
	out := r.WithContext(context.WithValue(ctx, forwardKey{}, fwd))
	if hasBody {
		out.Body = idleBody{http.MaxBytesReader(w, r.Body, p.maxBody), guard.readProgress}
	}
	p.rp.ServeHTTP(idleWriter{ResponseWriter: w, g: guard}, out)
}

// validToken accepts a non-empty header-safe token (no spaces, controls or
// non-ASCII: nothing that could split or smuggle a header).
func validToken(t string) bool {
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return false
		}
	}
	return true
}

// strippedRequestHeaders never reach an upstream: the browser's
// credentials and CSRF marker, hop-by-hop headers (the ReverseProxy removes
// them and the ones Connection names, but re-adds Te and Upgrade), and
// forwarding headers a client could forge. No fresh X-Forwarded-* are set:
// the BFF is the upstream's client, and behind a load balancer it could
// not vouch for the browser's address anyway.
var strippedRequestHeaders = []string{
	"Authorization", "Cookie", "Cookie2", "X-Csrf",
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Forwarded", "X-Real-Ip", "X-Original-Url", "X-Rewrite-Url",
}

// rewrite sets the outbound URL, Host and headers.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	fwd := pr.In.Context().Value(forwardKey{}).(*forward)
	out := pr.Out
	u := fwd.target
	u.RawQuery = fwd.in.URL.RawQuery // as sent, even parameters Go cannot parse
	out.URL = &u
	out.Host = u.Host
	h := out.Header
	for _, k := range strippedRequestHeaders {
		h.Del(k)
	}
	for k := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), "X-Forwarded-") {
			delete(h, k)
		}
	}
	h.Set("Authorization", "Bearer "+fwd.token)
}

// strippedResponseHeaders are origin-wide state or policy an upstream must
// not set on the BFF's origin (its session cookie, its CORS and transport
// policy, its service worker scope), plus hop-by-hop headers.
var strippedResponseHeaders = []string{
	"Set-Cookie", "Set-Cookie2", "Clear-Site-Data", "Strict-Transport-Security",
	"Alt-Svc", "Service-Worker-Allowed", "Public-Key-Pins", "Public-Key-Pins-Report-Only",
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Te", "Trailer",
	"Transfer-Encoding", "Upgrade",
}

var errProtocolSwitch = errors.New("upstream switched protocols")

// modifyResponse strips what the upstream must not say on the BFF's
// origin and marks the response as data: it is never rendered as a
// document of the BFF's origin (nosniff, a sandboxing CSP), and is not
// stored by shared caches unless the upstream said how to cache it.
func modifyResponse(res *http.Response) error {
	if res.StatusCode == http.StatusSwitchingProtocols {
		return fmt.Errorf("%w: %w", ErrUpstream, errProtocolSwitch)
	}
	h := res.Header
	for _, k := range strippedResponseHeaders {
		h.Del(k)
	}
	for k := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), "Access-Control-") {
			delete(h, k)
		}
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'; frame-ancestors 'none'")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	// The body streams for as long as the upstream keeps sending.
	if fwd, ok := res.Request.Context().Value(forwardKey{}).(*forward); ok && fwd.guard != nil {
		fwd.guard.upstreamProgress(0, nil)
		res.Body = idleBody{ReadCloser: res.Body, progress: fwd.guard.upstreamProgress}
	}
	return nil
}

// transportError classifies ReverseProxy failures (before any response
// byte was written) and hands them to the ErrorHandler with the inbound
// request, never the outbound one that carries the bearer token.
func (p *Proxy) transportError(w http.ResponseWriter, out *http.Request, err error) {
	fwd := out.Context().Value(forwardKey{}).(*forward)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		p.errorHandler(w, fwd.in, fmt.Errorf("%w: limit %d bytes", ErrBodyTooLarge, p.maxBody))
	case fwd.in.Context().Err() != nil:
		// The browser went away; nobody reads the answer.
		p.log.LogAttrs(fwd.in.Context(), slog.LevelDebug, "proxy client gone", slog.String("route", fwd.route))
	case errors.Is(err, ErrUpstream):
		p.errorHandler(w, fwd.in, fmt.Errorf("route %s: %w", fwd.route, err))
	default:
		p.errorHandler(w, fwd.in, fmt.Errorf("%w: route %s: %w", ErrUpstream, fwd.route, err))
	}
}

// logWriter adapts the ReverseProxy's log.Logger (mid-stream copy errors)
// to slog.
type logWriter struct{ l *slog.Logger }

func (lw logWriter) Write(b []byte) (int, error) {
	lw.l.Warn("proxy stream failed", slog.String("error", strings.TrimSpace(string(b))))
	return len(b), nil
}

var _ io.Writer = logWriter{}

// bufferPool reuses the 32 KiB copy buffers of streamed bodies.
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.pool.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.pool.Put(&buf) }
