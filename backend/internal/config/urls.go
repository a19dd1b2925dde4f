package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Issuer is Logto's OpenID Connect issuer: <endpoint>/oidc.
func (c *Config) Issuer() string { return c.LogtoEndpoint + "/oidc" }

// RedirectURL is the redirect URI to register in Logto: <public url>/auth/callback.
func (c *Config) RedirectURL() string { return c.PublicURL + "/auth/callback" }

// PostLogoutRedirectURL is the post sign-out redirect URI to register in
// Logto: <public url>/.
func (c *Config) PostLogoutRedirectURL() string { return c.PublicURL + "/" }

// BackchannelLogoutURL is the back-channel logout URI to register in Logto.
func (c *Config) BackchannelLogoutURL() string { return c.PublicURL + "/auth/backchannel-logout" }

// String describes the configuration without any secret.
func (c Config) String() string {
	return fmt.Sprintf("config{endpoint=%s app_id=%s public_url=%s listen=%s store=%s cookie_secure=%t scopes=%q resources=%q spa_dir=%q secrets=redacted}",
		c.LogtoEndpoint, c.AppID, c.PublicURL, c.Listen, c.SessionStore, c.CookieSecure, c.Scopes, c.Resources, c.SPADir)
}

// GoString is String, so %#v cannot print a secret either.
func (c Config) GoString() string { return c.String() }

// LogValue lets slog log a Config without its secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("logto_endpoint", c.LogtoEndpoint),
		slog.String("app_id", c.AppID),
		slog.String("public_url", c.PublicURL),
		slog.String("listen", c.Listen),
		slog.String("session_store", c.SessionStore),
		slog.Bool("cookie_secure", c.CookieSecure),
		slog.Any("scopes", c.Scopes),
		slog.Any("resources", c.Resources),
		slog.Duration("session_idle_timeout", c.SessionIdleTimeout),
		slog.Duration("session_lifetime", c.SessionLifetime),
		slog.Duration("clock_skew", c.ClockSkew),
		slog.String("spa_dir", c.SPADir),
		slog.Duration("refresh_margin", c.RefreshMargin),
		slog.Any("api_routes", c.routeNames()),
		slog.String("metrics_listen", c.MetricsListen),
	)
}

// routeNames lists the proxy routes by name only: upstream URLs may carry
// credentials.
func (c Config) routeNames() []string {
	names := make([]string, len(c.APIRoutes))
	for i, r := range c.APIRoutes {
		names[i] = r.Name
	}
	return names
}

// checkOrigin returns "" when raw is an http(s) origin (scheme://host[:port]
// with no user info, query or fragment); allowPath also accepts a path.
func checkOrigin(raw string, allowPath bool) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "must be an absolute http(s) URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must start with https:// or http://"
	case u.Host == "" || u.Hostname() == "":
		return "must have a host"
	case u.User != nil:
		return "must not contain user info"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return "must not have a query or fragment"
	case !allowPath && u.Path != "" && u.Path != "/":
		return "must be an origin without a path"
	}
	return ""
}

// isLoopbackURL reports whether raw's host is localhost or a loopback IP.
func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	return IsLoopbackHost(u.Hostname())
}

// IsLoopbackHost reports whether host (without port) is "localhost" or a
// loopback IP address. An empty host (all interfaces) is not loopback.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func splitHostPort(addr string) (string, string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", err
	}
	if port == "" {
		return "", "", errors.New("missing port")
	}
	return host, port, nil
}

func checkSPADir(dir string) string {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return "must be an existing directory"
	}
	if st, err := os.Stat(filepath.Join(dir, "index.html")); err != nil || !st.Mode().IsRegular() {
		return "must contain index.html (a built SPA)"
	}
	return ""
}
