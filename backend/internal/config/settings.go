// Package config loads and validates the BFF's settings from the
// environment. Every setting is declared once, in [Settings]; Load reads
// exactly those, `bff --help` prints them and the README's configuration
// table is checked against them.
package config

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Setting describes one environment variable the BFF reads.
type Setting struct {
	// Name is the environment variable.
	Name string
	// Default is the value used when the variable is unset or empty; ""
	// means no default (the setting is either required or optional, see
	// Description).
	Default string
	// Description says what the setting does, in one sentence.
	Description string
	// Secret settings are never printed, not even in a validation problem.
	Secret bool
}

// Names of every setting. Use these constants instead of string literals.
const (
	EnvLogtoEndpoint      = "LOGTO_ENDPOINT"
	EnvLogtoAppID         = "LOGTO_APP_ID"
	EnvLogtoAppSecret     = "LOGTO_APP_SECRET"
	EnvLogtoScopes        = "LOGTO_SCOPES"
	EnvLogtoResources     = "LOGTO_RESOURCES"
	EnvPublicURL          = "BFF_PUBLIC_URL"
	EnvListen             = "BFF_LISTEN"
	EnvSessionSecret      = "BFF_SESSION_SECRET"
	EnvSessionStore       = "BFF_SESSION_STORE"
	EnvRedisURL           = "REDIS_URL"
	EnvSessionCache       = "BFF_SESSION_CACHE"
	EnvMemoryStoreMaxMB   = "BFF_MEMORY_STORE_MAX_MB"
	EnvCookieSecure       = "BFF_COOKIE_SECURE"
	EnvSessionIdleTimeout = "BFF_SESSION_IDLE_TIMEOUT"
	EnvSessionLifetime    = "BFF_SESSION_LIFETIME"
	EnvClockSkew          = "BFF_CLOCK_SKEW"
	EnvSPADir             = "BFF_SPA_DIR"
	EnvLogLevel           = "BFF_LOG_LEVEL"
	EnvLogFormat          = "BFF_LOG_FORMAT"
	EnvRefreshMargin      = "BFF_REFRESH_MARGIN"
	EnvAPIRoutes          = "BFF_API_ROUTES"
	EnvMetricsListen      = "BFF_METRICS_LISTEN"
)

// DefaultMetricsListen is the default of BFF_METRICS_LISTEN: /metrics on a
// port of its own (9464, the port OpenTelemetry's Prometheus exporter uses
// for an application's metrics), on loopback so that counts of sign-ins,
// errors and routes never leave the host unless the operator opens them.
const DefaultMetricsListen = "127.0.0.1:9464"

// DefaultScopes is the default value of LOGTO_SCOPES.
const DefaultScopes = "openid profile email offline_access identities"

// Settings is the one table of every setting, in the order `--help` and the
// README list them.
var Settings = []Setting{
	{Name: EnvLogtoEndpoint, Description: "Logto tenant endpoint, e.g. https://tenant.logto.app (required; the issuer is <endpoint>/oidc)."},
	{Name: EnvLogtoAppID, Description: "App ID of the Logto \"Traditional web\" application (required)."},
	{Name: EnvLogtoAppSecret, Description: "App secret of that application, sent only in the Basic header (required).", Secret: true},
	{Name: EnvLogtoScopes, Default: DefaultScopes, Description: "Space-separated scopes to request; must include openid (offline_access adds prompt=consent)."},
	{Name: EnvLogtoResources, Description: "Space-separated API resource indicators (absolute URIs) requested at sign-in."},
	{Name: EnvPublicURL, Description: "Public origin of the BFF, e.g. https://app.example.com (required); redirect URI <url>/auth/callback, post sign-out URI <url>/."},
	{Name: EnvListen, Default: ":8080", Description: "Address to listen on (host:port; port 0 picks a free port)."},
	{Name: EnvSessionSecret, Description: "Key that signs the session cookie, at least 32 bytes (required).", Secret: true},
	{Name: EnvSessionStore, Default: "memory", Description: "Session store: memory (one replica) or redis."},
	{Name: EnvRedisURL, Description: "Redis URL (required when the store is redis): redis://[:password@]host:port[/db] for one node (rediss:// with TLS), redis+sentinel://[:password@]sentinel:port[,sentinel:port...]/MASTER_NAME[/db] for Sentinel, redis+cluster://[:password@]node:port[,node:port...] for a Cluster (rediss+sentinel://, rediss+cluster:// with TLS). See \"Redis topologies\".", Secret: true},
	{Name: EnvSessionCache, Default: "10000", Description: "Redis store: how many session records each replica keeps in its near-cache for plain reads (/api/me, the proxy's session check), at most 4 KiB each on average; Redis invalidates a cached record when any replica writes or deletes it, and none is served longer than 30 s; 0 turns the cache off. See \"Benchmarks\"."},
	{Name: EnvMemoryStoreMaxMB, Default: "1024", Description: "Memory store: the most its entries (sessions, indexes, marks, locks) may hold, in MiB (≈3 KB per signed-in session); when full, new sign-ins answer 503 store_unavailable and signed-in sessions keep working."},
	{Name: EnvCookieSecure, Default: "true", Description: "Mark cookies Secure and use the __Host- prefix; false only for plain-http development."},
	{Name: EnvSessionIdleTimeout, Default: hours(DefaultSessionIdleTimeout), Description: "A session unused for this long ends (Go duration)."},
	{Name: EnvSessionLifetime, Default: hours(DefaultSessionLifetime), Description: "A session ends this long after sign-in at the latest (Go duration)."},
	{Name: EnvClockSkew, Default: "60s", Description: "Leeway allowed on ID-token exp and iat (Go duration, at most 5m)."},
	{Name: EnvSPADir, Description: "Directory of a built SPA to serve at / (index.html fallback); unset serves no SPA."},
	{Name: EnvRefreshMargin, Default: "60s", Description: "Tokens are refreshed server-side on the request that needs them once they expire within this margin, capped at 5% of each token's issued lifetime so short-lived tokens are refreshed about once per lifetime (Go duration, 0s to 30m)."},
	{Name: EnvAPIRoutes, Description: "API proxy routes, comma- or newline-separated: name=https://upstream/base|<resource indicator>[|org:<organization id>], served at /api/proxy/<name>/...; every resource must be in LOGTO_RESOURCES."},
	{Name: EnvMetricsListen, Default: DefaultMetricsListen, Description: "Address of the separate Prometheus /metrics listener (host:port; port 0 picks a free port); /metrics is never served on BFF_LISTEN. Loopback by default: set e.g. :9464 for a scraper on the private network, and never publish it at the edge."},
	{Name: EnvLogLevel, Default: "info", Description: "Log level: debug, info, warn or error."},
	{Name: EnvLogFormat, Default: "json", Description: "Log format: json or text."},
}

// hours writes a whole number of hours as a Go duration the way a person
// would ("24h", not "24h0m0s").
func hours(d time.Duration) string {
	return strings.TrimSuffix(d.String(), "0m0s")
}

// Lookup returns the setting called name.
func Lookup(name string) (Setting, bool) {
	for _, s := range Settings {
		if s.Name == name {
			return s, true
		}
	}
	return Setting{}, false
}

// WriteHelp prints every setting with its default and description. It
// never prints a value read from the environment.
func WriteHelp(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tDESCRIPTION")
	for _, s := range Settings {
		def := s.Default
		if def == "" {
			def = "-"
		}
		desc := s.Description
		if s.Secret {
			desc += " Secret: never printed."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, def, desc)
	}
	return tw.Flush()
}

// MarkdownTable renders the settings as the README's configuration table.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Variable | Default | Description |\n|---|---|---|\n")
	for _, s := range Settings {
		def := "—"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		desc := s.Description
		if s.Secret {
			desc += " **Secret.**"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.Name, def, strings.ReplaceAll(desc, "|", "\\|"))
	}
	return b.String()
}
