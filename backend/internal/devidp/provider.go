// Package devidp is an offline identity provider that behaves like Logto on
// the wire: the same endpoint paths, token shapes, claim shapes, error bodies
// and refresh-token rules. It exists for tests (served through httptest) and
// for `bff dev` (served on a loopback port). It is NOT for production: users,
// passwords and keys live in memory, passwords are compared in plain text and
// every page says so.
//
// The Provider binds nothing itself: it is an http.Handler. Create it once the
// URL it will be served on is known, because every URL it publishes is derived
// from Config.Issuer.
package devidp

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Logto's defaults, used when a Config duration is zero.
const (
	DefaultAccessTokenTTL  = time.Hour
	DefaultIDTokenTTL      = time.Hour
	DefaultRefreshTokenTTL = 14 * 24 * time.Hour
	DefaultCodeTTL         = 60 * time.Second
	DefaultSessionTTL      = 14 * 24 * time.Hour

	grantTTL        = 180 * 24 * time.Hour
	interactionTTL  = time.Hour
	logoutTTL       = 10 * time.Minute
	reuseGrace      = 3 * time.Second
	sweepInterval   = time.Minute
	maxIssuedTokens = 100000
	// maxRefreshHistory bounds the refresh tokens (live + consumed) a grant
	// remembers; older consumed ones are forgotten (then presenting one is a
	// plain invalid_grant instead of a reuse that revokes the grant).
	maxRefreshHistory = 64
)

// Config configures a Provider. Only Issuer and Clients are required.
type Config struct {
	// Issuer is the issuer URL, e.g. "http://localhost:3001/oidc". Every
	// endpoint is served under its path, at Logto's paths (/auth, /token, /me,
	// /jwks, /session/end, /token/revocation, /.well-known/openid-configuration).
	Issuer string
	// Clients are the registered confidential ("Traditional web") applications.
	Clients []Client
	// Users seeds the user store; nil means DefaultUsers().
	Users []User
	// Resources are the API resources; nil means DefaultResources().
	Resources []Resource
	// Organizations are the organizations; nil means DefaultOrganizations().
	Organizations []Organization
	// Now is the clock; nil means time.Now. Every expiry decision uses it.
	Now func() time.Time
	// Lifetimes; zero means Logto's default (1 h, 1 h, 14 d, 60 s, 14 d).
	AccessTokenTTL, IDTokenTTL, RefreshTokenTTL, CodeTTL, SessionTTL time.Duration
	// LenientRefresh selects Logto's refresh rule: the same refresh token is
	// returned until 70% of its lifetime has passed, and a consumed token
	// presented again within 3 s is forgiven. False (the default) is strict:
	// every use rotates, and any reuse of a consumed token revokes the grant.
	LenientRefresh bool
	// ExposeIssuedTokens serves GET <issuer>/__dev/issued-tokens, a JSON array
	// of every token value issued (for browser tests that check no token leaks).
	ExposeIssuedTokens bool
	// Logger receives one line per event; nil discards. Tokens, codes,
	// secrets and cookies are never logged.
	Logger *slog.Logger
	// HTTPClient delivers back-channel logout; nil means a client with a 5 s
	// timeout.
	HTTPClient *http.Client
}

// Client is a registered confidential client (Logto "Traditional web" app).
type Client struct {
	// ID and Secret authenticate the client at the token and revocation
	// endpoints (client_secret_basic or client_secret_post, never both).
	ID, Secret string
	// Name is shown on the sign-in and sign-out pages; empty means ID.
	Name string
	// RedirectURIs and PostLogoutRedirectURIs are matched exactly.
	RedirectURIs, PostLogoutRedirectURIs []string
	// BackchannelLogoutURI receives a logout_token form POST when an IdP
	// session this client took part in ends; empty disables delivery.
	BackchannelLogoutURI string
	// BackchannelLogoutSessionRequired is Logto's "session required" switch:
	// only when it is true do ID tokens and logout tokens carry `sid`.
	BackchannelLogoutSessionRequired bool
}

func (c *Client) displayName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// Stats are counters since New plus the current size of the in-memory state.
type Stats struct {
	AuthCodeGrants       int // successful authorization_code exchanges
	RefreshGrants        int // successful refresh_token exchanges
	RefreshReuse         int // consumed refresh tokens presented again
	GrantsRevoked        int // grants deleted before their end (reuse, revocation, RevokeGrants, code reuse, sign-out)
	Revocations          int // successful calls to the revocation endpoint with a known token
	BackchannelDelivered int // logout tokens answered 2xx
	BackchannelFailed    int // logout tokens not delivered or answered otherwise
	SignIns              int // completed interactive or SSO sign-ins
	JWKSRequests         int // GET /jwks answered

	Grants, Sessions, Interactions, Codes, AccessTokens, RefreshTokens int // live entries now
}

// Provider is the identity provider. It is safe for concurrent use; all state
// sits behind one mutex, so concurrent refreshes of one token are decided
// atomically.
type Provider struct {
	issuer     string
	issuerURL  *url.URL
	prefix     string // issuer path without trailing slash, e.g. "/oidc"
	now        func() time.Time
	log        *slog.Logger
	httpClient *http.Client
	lenient    bool
	exposeIssu bool

	accessTTL, idTTL, refreshTTL, codeTTL, sessionTTL time.Duration

	clients   map[string]*Client
	resources map[string]Resource
	orgs      map[string]Organization
	keys      *keySet
	pages     *pageSet
	mux       *http.ServeMux

	mu           sync.Mutex
	users        []*User
	interactions map[string]*interaction
	sessions     map[string]*browserSession
	codes        map[string]*authCode
	grants       map[string]*grant
	access       map[string]*accessToken
	refresh      map[string]*refreshToken
	logouts      map[string]*pendingLogout
	issued       []string
	stats        Stats
	lastSweep    time.Time
}

// New validates cfg, generates a fresh P-384 signing key and returns a
// Provider ready to serve. It logs one line saying it is for development.
func New(cfg Config) (*Provider, error) {
	iu, err := url.Parse(cfg.Issuer)
	if err != nil || (iu.Scheme != "http" && iu.Scheme != "https") || iu.Host == "" || iu.RawQuery != "" || iu.Fragment != "" {
		return nil, errors.New("devidp: Issuer must be an absolute http(s) URL without query or fragment")
	}
	if len(cfg.Clients) == 0 {
		return nil, errors.New("devidp: at least one client is required")
	}
	p := &Provider{
		issuer:       strings.TrimSuffix(cfg.Issuer, "/"),
		issuerURL:    iu,
		prefix:       strings.TrimSuffix(iu.Path, "/"),
		now:          cfg.Now,
		log:          cfg.Logger,
		httpClient:   cfg.HTTPClient,
		lenient:      cfg.LenientRefresh,
		exposeIssu:   cfg.ExposeIssuedTokens,
		accessTTL:    orDefault(cfg.AccessTokenTTL, DefaultAccessTokenTTL),
		idTTL:        orDefault(cfg.IDTokenTTL, DefaultIDTokenTTL),
		refreshTTL:   orDefault(cfg.RefreshTokenTTL, DefaultRefreshTokenTTL),
		codeTTL:      orDefault(cfg.CodeTTL, DefaultCodeTTL),
		sessionTTL:   orDefault(cfg.SessionTTL, DefaultSessionTTL),
		clients:      map[string]*Client{},
		resources:    map[string]Resource{},
		orgs:         map[string]Organization{},
		interactions: map[string]*interaction{},
		sessions:     map[string]*browserSession{},
		codes:        map[string]*authCode{},
		grants:       map[string]*grant{},
		access:       map[string]*accessToken{},
		refresh:      map[string]*refreshToken{},
		logouts:      map[string]*pendingLogout{},
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p.httpClient == nil {
		p.httpClient = &http.Client{Timeout: 5 * time.Second}
	}
	var problems []string
	for i := range cfg.Clients {
		c := cfg.Clients[i]
		if c.ID == "" || c.Secret == "" {
			problems = append(problems, fmt.Sprintf("client %d: ID and Secret are required", i))
			continue
		}
		if _, dup := p.clients[c.ID]; dup {
			problems = append(problems, fmt.Sprintf("client %q registered twice", c.ID))
		}
		c.RedirectURIs = append([]string(nil), c.RedirectURIs...)
		c.PostLogoutRedirectURIs = append([]string(nil), c.PostLogoutRedirectURIs...)
		p.clients[c.ID] = &c
	}
	users := cfg.Users
	if users == nil {
		users = DefaultUsers()
	}
	if err := p.seedUsers(users); err != nil {
		problems = append(problems, err.Error())
	}
	resources := cfg.Resources
	if resources == nil {
		resources = DefaultResources()
	}
	for _, r := range resources {
		p.resources[r.Indicator] = r
	}
	orgs := cfg.Organizations
	if orgs == nil {
		orgs = DefaultOrganizations()
	}
	for _, o := range orgs {
		p.orgs[o.ID] = o
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("devidp: invalid config: %s", strings.Join(problems, "; "))
	}
	if p.keys, err = newKeySet(); err != nil {
		return nil, fmt.Errorf("devidp: %w", err)
	}
	if p.pages, err = parsePages(); err != nil {
		return nil, fmt.Errorf("devidp: %w", err)
	}
	p.routes()
	p.log.Warn("development identity provider ready — NOT FOR PRODUCTION: in-memory users with known passwords",
		"issuer", p.issuer, "users", len(p.users), "clients", len(p.clients))
	return p, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Issuer returns the issuer URL exactly as it appears in tokens and discovery.
func (p *Provider) Issuer() string { return p.issuer }

func (p *Provider) routes() {
	m := http.NewServeMux()
	x := p.prefix
	m.HandleFunc("GET "+x+"/.well-known/openid-configuration", p.handleDiscovery)
	m.HandleFunc("GET "+x+"/jwks", p.handleJWKS)
	m.HandleFunc("GET "+x+"/auth", p.handleAuthorize)
	m.HandleFunc("POST "+x+"/auth", p.handleAuthorize)
	m.HandleFunc("POST "+x+"/token", p.handleToken)
	m.HandleFunc("GET "+x+"/me", p.handleUserinfo)
	m.HandleFunc("POST "+x+"/me", p.handleUserinfo)
	m.HandleFunc("POST "+x+"/token/revocation", p.handleRevocation)
	m.HandleFunc("GET "+x+"/session/end", p.handleEndSession)
	m.HandleFunc("POST "+x+"/session/end", p.handleEndSession)
	m.HandleFunc("POST "+x+"/session/end/confirm", p.handleEndSessionConfirm)
	m.HandleFunc("GET "+x+"/interaction/{id}", p.handleSignInPage)
	m.HandleFunc("POST "+x+"/interaction/{id}", p.handleSignInSubmit)
	m.HandleFunc("GET "+x+"/interaction/{id}/register", p.handleRegisterPage)
	m.HandleFunc("POST "+x+"/interaction/{id}/register", p.handleRegisterSubmit)
	m.HandleFunc("GET "+x+"/interaction/{id}/discord", p.handleDiscordPage)
	m.HandleFunc("POST "+x+"/interaction/{id}/discord", p.handleDiscordSubmit)
	if p.exposeIssu {
		m.HandleFunc("GET "+x+"/__dev/issued-tokens", p.handleIssuedTokens)
	}
	p.mux = m
}

// ServeHTTP serves every endpoint and page of the provider under the issuer
// path. Requests for other paths get 404.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mux.ServeHTTP(w, r)
}

// Stats returns a snapshot of the counters and the live state sizes.
func (p *Provider) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Grants, s.Sessions, s.Interactions = len(p.grants), len(p.sessions), len(p.interactions)
	s.Codes, s.AccessTokens, s.RefreshTokens = len(p.codes), len(p.access), len(p.refresh)
	return s
}

// IssuedTokens returns every access, refresh and ID token value issued so far
// (at least the most recent 100,000), oldest first.
func (p *Provider) IssuedTokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.issued...)
}

func (p *Provider) handleIssuedTokens(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, p.IssuedTokens())
}

// recordIssuedLocked remembers token values for IssuedTokens. Caller holds mu.
func (p *Provider) recordIssuedLocked(values ...string) {
	for _, v := range values {
		if v != "" {
			p.issued = append(p.issued, v)
		}
	}
	// Trim in chunks: copying the whole list on every token once it is full
	// made sign-ins quadratic (seen in make bench's 100k sign-ins).
	if len(p.issued) >= 2*maxIssuedTokens {
		p.issued = append([]string(nil), p.issued[len(p.issued)-maxIssuedTokens:]...)
	}
}

func (p *Provider) recordIssued(values ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recordIssuedLocked(values...)
}

// endpoint returns the absolute URL of a path under the issuer.
func (p *Provider) endpoint(path string) string { return p.issuer + path }

// localPath returns the request path of a path under the issuer.
func (p *Provider) localPath(path string) string { return p.prefix + path }

// randomToken returns n random bytes, base64url without padding
// (32 bytes → 43 characters, Logto's opaque token length).
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("devidp: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// randomID returns an n-character lowercase alphanumeric id (Logto's user ids).
func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("devidp: crypto/rand failed: " + err.Error())
	}
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}
