package config

import (
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/logto-bff/bff/backend/internal/routes"
	"github.com/logto-bff/bff/backend/internal/store"
)

// Session store kinds accepted by BFF_SESSION_STORE.
const (
	StoreMemory = "memory"
	StoreRedis  = "redis"
)

// Log formats accepted by BFF_LOG_FORMAT.
const (
	LogJSON = "json"
	LogText = "text"
)

// MinSecretBytes is the shortest BFF_SESSION_SECRET accepted.
const MinSecretBytes = 32

// MaxMemoryStoreMB bounds BFF_MEMORY_STORE_MAX_MB (1 TiB).
const MaxMemoryStoreMB = 1 << 20

// MaxSessionCache bounds BFF_SESSION_CACHE (10 million records of ~4 KiB
// would be 40 GiB: beyond any replica).
const MaxSessionCache = 10_000_000

// Session lifetimes when BFF_SESSION_IDLE_TIMEOUT and BFF_SESSION_LIFETIME
// are unset (Settings shows them as "24h" and "336h").
const (
	DefaultSessionIdleTimeout = 24 * time.Hour
	DefaultSessionLifetime    = 14 * 24 * time.Hour
)

// MaxRefreshMargin bounds BFF_REFRESH_MARGIN: with a larger margin a token
// would be refreshed almost as soon as it is issued.
const MaxRefreshMargin = 30 * time.Minute

// Logto's organization scope and resource: an organization token (for an
// org: route) needs both requested at sign-in (Logto docs, "Organization
// token"; README, "Calling your APIs: the proxy").
const (
	OrganizationsScope    = "urn:logto:scope:organizations"
	OrganizationsResource = "urn:logto:resource:organizations"
)

// MaxClockSkew bounds BFF_CLOCK_SKEW: a larger leeway would keep expired ID
// tokens acceptable for too long.
const MaxClockSkew = 5 * time.Minute

// Config is the validated configuration of one BFF process. Build it with
// Load; a hand-built Config must pass Validate before use. Its String,
// GoString and LogValue methods never reveal a secret.
type Config struct {
	// LogtoEndpoint is the tenant endpoint without a trailing slash.
	LogtoEndpoint string
	// AppID and AppSecret are the confidential client's credentials.
	AppID     string
	AppSecret string
	// Scopes requested at sign-in (always includes "openid").
	Scopes []string
	// Resources are RFC 8707 resource indicators requested at sign-in.
	Resources []string
	// PublicURL is the BFF's public origin (scheme://host[:port]), no
	// trailing slash.
	PublicURL string
	// Listen is the host:port to listen on.
	Listen string
	// SessionSecret signs the session cookie (at least MinSecretBytes).
	SessionSecret []byte
	// SessionStore is StoreMemory or StoreRedis.
	SessionStore string
	// RedisURL is the Redis URL when SessionStore is StoreRedis.
	RedisURL string
	// MemoryStoreMaxBytes bounds the memory store (BFF_MEMORY_STORE_MAX_MB).
	MemoryStoreMaxBytes int64
	// SessionCache is how many session records the Redis store's
	// near-cache holds (0: off). Unused with the memory store.
	SessionCache int
	// CookieSecure marks cookies Secure and uses the __Host- prefix.
	CookieSecure bool
	// SessionIdleTimeout ends a session unused this long.
	SessionIdleTimeout time.Duration
	// SessionLifetime ends a session this long after sign-in.
	SessionLifetime time.Duration
	// ClockSkew is the leeway on ID-token exp/iat.
	ClockSkew time.Duration
	// SPADir is a directory of a built SPA to serve at /, or "".
	SPADir string
	// LogLevel is the minimum level logged.
	LogLevel slog.Level
	// LogFormat is LogJSON or LogText.
	LogFormat string
	// RefreshMargin: a token expiring within it is refreshed before use.
	RefreshMargin time.Duration
	// APIRoutes are the API proxy's routes (BFF_API_ROUTES), or none.
	APIRoutes []routes.Route
	// MetricsListen is the host:port of the separate /metrics listener
	// (never the main one).
	MetricsListen string
}

// Load reads every setting in Settings through getenv (os.Getenv in main,
// a map in tests), applies defaults and validates the result. On failure the
// error is a Problems listing every problem at once, one per variable
// problem; no secret value is ever part of it.
func Load(getenv func(string) string) (*Config, error) {
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		s, _ := Lookup(name)
		return s.Default
	}
	var probs Problems
	c := &Config{
		LogtoEndpoint: strings.TrimRight(get(EnvLogtoEndpoint), "/"),
		AppID:         get(EnvLogtoAppID),
		AppSecret:     getenv(EnvLogtoAppSecret), // secrets are taken verbatim
		Scopes:        strings.Fields(get(EnvLogtoScopes)),
		Resources:     strings.Fields(strings.ReplaceAll(get(EnvLogtoResources), ",", " ")),
		PublicURL:     strings.TrimRight(get(EnvPublicURL), "/"),
		Listen:        get(EnvListen),
		SessionSecret: []byte(getenv(EnvSessionSecret)),
		SessionStore:  strings.ToLower(get(EnvSessionStore)),
		RedisURL:      getenv(EnvRedisURL),
		SPADir:        get(EnvSPADir),
		LogFormat:     strings.ToLower(get(EnvLogFormat)),
		MetricsListen: get(EnvMetricsListen),
	}
	secure, err := strconv.ParseBool(get(EnvCookieSecure))
	if err != nil {
		probs.add(EnvCookieSecure, "must be true or false, got %q", get(EnvCookieSecure))
		secure = true
	}
	c.CookieSecure = secure
	if n, err := strconv.Atoi(get(EnvSessionCache)); err != nil || n < 0 || n > MaxSessionCache {
		probs.add(EnvSessionCache, "must be a whole number from 0 (off) to %d, got %q", MaxSessionCache, get(EnvSessionCache))
	} else {
		c.SessionCache = n
	}
	if n, err := strconv.Atoi(get(EnvMemoryStoreMaxMB)); err != nil || n < 1 || n > MaxMemoryStoreMB {
		probs.add(EnvMemoryStoreMaxMB, "must be a whole number of MiB from 1 to %d, got %q", MaxMemoryStoreMB, get(EnvMemoryStoreMaxMB))
	} else {
		c.MemoryStoreMaxBytes = int64(n) << 20
	}
	c.SessionIdleTimeout = probs.duration(EnvSessionIdleTimeout, get(EnvSessionIdleTimeout))
	c.SessionLifetime = probs.duration(EnvSessionLifetime, get(EnvSessionLifetime))
	c.ClockSkew = probs.duration(EnvClockSkew, get(EnvClockSkew))
	c.RefreshMargin = probs.duration(EnvRefreshMargin, get(EnvRefreshMargin))
	if raw := getenv(EnvAPIRoutes); strings.TrimSpace(raw) != "" {
		rs, err := routes.Parse(raw)
		if err != nil {
			// Parse never quotes an upstream URL (it could hold
			// credentials): one problem per line of its joined error.
			for _, line := range strings.Split(err.Error(), "\n") {
				probs.add(EnvAPIRoutes, "%s", line)
			}
		}
		c.APIRoutes = rs
	}
	if err := c.LogLevel.UnmarshalText([]byte(get(EnvLogLevel))); err != nil {
		probs.add(EnvLogLevel, "must be debug, info, warn or error, got %q", get(EnvLogLevel))
	}

	if verr := c.Validate(); verr != nil {
		// A variable that failed to parse has its problem already; what
		// Validate says about its zero value would only repeat it.
		parseFailed := map[string]bool{}
		for _, p := range probs {
			parseFailed[p.Var] = true
		}
		for _, p := range verr.(Problems) {
			if !parseFailed[p.Var] {
				probs = append(probs, p)
			}
		}
	}
	if len(probs) > 0 {
		probs.sort()
		return nil, probs
	}
	return c, nil
}

// Validate checks every field and returns a Problems with all problems
// found, or nil. It never includes a secret value.
func (c *Config) Validate() error {
	var probs Problems
	if c.LogtoEndpoint == "" {
		probs.add(EnvLogtoEndpoint, "is required (e.g. https://tenant.logto.app)")
	} else if msg := checkOrigin(c.LogtoEndpoint, true); msg != "" {
		probs.add(EnvLogtoEndpoint, "%s, got %q", msg, c.LogtoEndpoint)
	} else if strings.HasSuffix(c.LogtoEndpoint, "/oidc") {
		probs.add(EnvLogtoEndpoint, "must be the tenant endpoint without /oidc (the issuer is <endpoint>/oidc), got %q", c.LogtoEndpoint)
	}
	if c.AppID == "" {
		probs.add(EnvLogtoAppID, "is required")
	}
	if c.AppSecret == "" {
		probs.add(EnvLogtoAppSecret, "is required")
	}
	if len(c.Scopes) == 0 || !contains(c.Scopes, "openid") {
		probs.add(EnvLogtoScopes, "must include openid")
	}
	for _, s := range c.Scopes {
		if !validScope(s) {
			probs.add(EnvLogtoScopes, "scope %q contains characters not allowed in a scope", s)
			break
		}
	}
	for _, r := range c.Resources {
		u, err := url.Parse(r)
		if err != nil || u.Scheme == "" || u.Fragment != "" || strings.ContainsAny(r, "\"\\ ") {
			probs.add(EnvLogtoResources, "resource indicator %q must be an absolute URI without a fragment", r)
			break
		}
	}
	if c.PublicURL == "" {
		probs.add(EnvPublicURL, "is required (e.g. https://app.example.com)")
	} else if msg := checkOrigin(c.PublicURL, false); msg != "" {
		probs.add(EnvPublicURL, "%s, got %q", msg, c.PublicURL)
	} else if c.CookieSecure && strings.HasPrefix(c.PublicURL, "http://") && !isLoopbackURL(c.PublicURL) {
		probs.add(EnvPublicURL, "must be https while %s=true (browsers drop Secure cookies on plain http), got %q", EnvCookieSecure, c.PublicURL)
	}
	if c.Listen == "" {
		probs.add(EnvListen, "is required")
	} else if _, port, err := splitHostPort(c.Listen); err != nil {
		probs.add(EnvListen, "must be host:port (e.g. :8080 or 127.0.0.1:8080), got %q", c.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		probs.add(EnvListen, "has an invalid port, got %q", c.Listen)
	}
	if len(c.SessionSecret) == 0 {
		probs.add(EnvSessionSecret, "is required (at least %d bytes, e.g. `openssl rand -base64 48`)", MinSecretBytes)
	} else if len(c.SessionSecret) < MinSecretBytes {
		probs.add(EnvSessionSecret, "is too short: must be at least %d bytes", MinSecretBytes)
	}
	switch c.SessionStore {
	case StoreMemory:
	case StoreRedis:
		if c.RedisURL == "" {
			probs.add(EnvRedisURL, "is required when %s=redis", EnvSessionStore)
		} else if _, err := store.ParseRedisURL(c.RedisURL); err != nil {
			// The parser's errors never quote the URL (it holds a password).
			probs.add(EnvRedisURL, "%v; the forms are %s", err, store.RedisURLForms)
		}
	default:
		probs.add(EnvSessionStore, "must be memory or redis, got %q", c.SessionStore)
	}
	if c.SessionIdleTimeout <= 0 {
		probs.add(EnvSessionIdleTimeout, "must be a positive duration")
	}
	if c.SessionLifetime <= 0 {
		probs.add(EnvSessionLifetime, "must be a positive duration")
	} else if c.SessionIdleTimeout > c.SessionLifetime {
		probs.add(EnvSessionIdleTimeout, "must not exceed %s (%s)", EnvSessionLifetime, c.SessionLifetime)
	}
	if c.ClockSkew < 0 || c.ClockSkew > MaxClockSkew {
		probs.add(EnvClockSkew, "must be between 0s and %s, got %s", MaxClockSkew, c.ClockSkew)
	}
	if c.RefreshMargin < 0 || c.RefreshMargin > MaxRefreshMargin {
		probs.add(EnvRefreshMargin, "must be between 0s and %s, got %s", MaxRefreshMargin, c.RefreshMargin)
	}
	c.validateRoutes(&probs)
	if c.MetricsListen == "" {
		probs.add(EnvMetricsListen, "is required (/metrics is never served on %s)", EnvListen)
	} else {
		if _, port, err := splitHostPort(c.MetricsListen); err != nil {
			probs.add(EnvMetricsListen, "must be host:port (e.g. 127.0.0.1:9090), got %q", c.MetricsListen)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			probs.add(EnvMetricsListen, "has an invalid port, got %q", c.MetricsListen)
		} else if c.MetricsListen == c.Listen && n != 0 {
			probs.add(EnvMetricsListen, "must differ from %s (/metrics has a listener of its own)", EnvListen)
		}
	}
	if c.SPADir != "" {
		if msg := checkSPADir(c.SPADir); msg != "" {
			probs.add(EnvSPADir, "%s: %q", msg, c.SPADir)
		}
	}
	if c.LogFormat != LogJSON && c.LogFormat != LogText {
		probs.add(EnvLogFormat, "must be json or text, got %q", c.LogFormat)
	}
	if len(probs) == 0 {
		return nil
	}
	probs.sort()
	return probs
}

// validateRoutes checks that every proxy route's token can be obtained:
// its resource was requested at sign-in (Logto answers invalid_target
// otherwise), and an organization route has Logto's organization scope and
// resource. Upstream URLs are never quoted.
func (c *Config) validateRoutes(probs *Problems) {
	for _, r := range c.APIRoutes {
		if r.Resource == "" && r.Organization == "" {
			probs.add(EnvAPIRoutes, "route %q needs a resource indicator or org:<id> (the upstream gets a token for it)", r.Name)
		}
		if r.Resource != "" && !contains(c.Resources, r.Resource) {
			probs.add(EnvAPIRoutes, "route %q uses resource %q, which is not in %s (Logto only issues tokens for resources requested at sign-in)", r.Name, r.Resource, EnvLogtoResources)
		}
		if r.Organization != "" {
			if !contains(c.Scopes, OrganizationsScope) {
				probs.add(EnvAPIRoutes, "route %q needs an organization token: add %s to %s", r.Name, OrganizationsScope, EnvLogtoScopes)
			}
			if !contains(c.Resources, OrganizationsResource) {
				probs.add(EnvAPIRoutes, "route %q needs an organization token: add %s to %s", r.Name, OrganizationsResource, EnvLogtoResources)
			}
		}
	}
}

func (p *Problems) duration(name, raw string) time.Duration {
	d, err := time.ParseDuration(raw)
	if err != nil {
		p.add(name, "must be a Go duration such as 90s, 30m or 24h, got %q", raw)
		return 0
	}
	return d
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// validScope reports whether s is a scope token per RFC 6749 §3.3.
func validScope(s string) bool {
	for _, r := range s {
		if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
			return false
		}
	}
	return s != ""
}
