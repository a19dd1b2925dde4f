package deploy

import (
	"errors"
	"net"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/logto-bff/bff/backend/internal/config"
)

// TestLogtoStackWiring checks that the browser, nginx, the BFF and Logto
// agree on every URL: the issuer and the app's origin are the same for
// all of them because bff and logto share spa's network namespace.
func TestLogtoStackWiring(t *testing.T) {
	p := loadProject(t, withEnv(envExample(t), filledSecrets))
	bff, logto, spa := service(t, p, "bff"), service(t, p, "logto"), service(t, p, "spa")

	for _, s := range []types.ServiceConfig{bff, logto} {
		if s.NetworkMode != "service:spa" {
			t.Errorf("%s: network_mode = %q, want service:spa", s.Name, s.NetworkMode)
		}
	}

	// The issuer: LOGTO_ENDPOINT is Logto's ENDPOINT, and the browser reaches
	// the same host:port through the namespace's published port.
	endpoint := env(bff, config.EnvLogtoEndpoint)
	if endpoint != env(logto, "ENDPOINT") {
		t.Errorf("bff LOGTO_ENDPOINT = %q but logto ENDPOINT = %q: the issuers differ", endpoint, env(logto, "ENDPOINT"))
	}
	// Inside the namespace the same URL is Logto itself (its default PORT
	// and ADMIN_PORT), which is how the BFF reaches it.
	const logtoPort, logtoAdminPort = 3001, 3002
	checkBrowserReaches(t, spa, endpoint, logtoPort)
	checkSameInside(t, endpoint, itoa(logtoPort))
	checkBrowserReaches(t, spa, env(logto, "ADMIN_ENDPOINT"), logtoAdminPort)
	checkSameInside(t, env(logto, "ADMIN_ENDPOINT"), itoa(logtoAdminPort))

	// The app's origin is what nginx publishes, and nginx's upstream is
	// where the BFF listens. Inside the namespace the origin is the BFF
	// itself: Logto delivers back-channel logouts to
	// <BFF_PUBLIC_URL>/auth/backchannel-logout over the loopback.
	publicURL := env(bff, config.EnvPublicURL)
	checkBrowserReaches(t, spa, publicURL, nginxDefaultServerPort(t))
	checkUpstreamIsListen(t, env(spa, "NGINX_BFF_UPSTREAM"), env(bff, config.EnvListen))
	checkSameInside(t, publicURL, listenPort(t, env(bff, config.EnvListen)))

	// Sessions in the stack's Redis.
	if got := env(bff, config.EnvSessionStore); got != config.StoreRedis {
		t.Errorf("BFF_SESSION_STORE = %q, want redis", got)
	}
	u, err := url.Parse(env(bff, config.EnvRedisURL))
	if err != nil || u.Scheme != "redis" || u.Hostname() != "redis" || (u.Port() != "" && u.Port() != "6379") {
		t.Errorf("REDIS_URL = %q, want redis://redis:6379/…", env(bff, config.EnvRedisURL))
	}
	service(t, p, "redis")

	// Nothing proxies Logto, so it must not trust X-Forwarded-* from clients.
	if _, ok := logto.Environment["TRUST_PROXY_HEADER"]; ok {
		t.Error("logto sets TRUST_PROXY_HEADER, but no proxy sits in front of it")
	}

	// Logto's database is the postgres service, with the same password.
	db, err := url.Parse(env(logto, "DB_URL"))
	if err != nil || db.Hostname() != "postgres" {
		t.Fatalf("logto DB_URL does not point at the postgres service")
	}
	if pw, _ := db.User.Password(); pw != env(service(t, p, "postgres"), "POSTGRES_PASSWORD") {
		t.Error("logto DB_URL's password is not postgres's POSTGRES_PASSWORD")
	}

	checkSettingsKnown(t, bff)

	// With the secrets a user fills in, the BFF's own validation accepts the
	// environment compose gives it.
	if _, err := config.Load(envLookup(bff)); err != nil {
		t.Errorf("config.Load rejects the bff service's environment:\n%v", err)
	}
}

// TestCopiedEnvExampleFailsClosed: with .env.example copied as is, the BFF
// refuses to start and names exactly the values the user must fill in.
func TestCopiedEnvExampleFailsClosed(t *testing.T) {
	p := loadProject(t, envExample(t))
	_, err := config.Load(envLookup(service(t, p, "bff")))
	var probs config.Problems
	if !errors.As(err, &probs) {
		t.Fatalf("config.Load = %v, want config.Problems", err)
	}
	var got []string
	for _, pr := range probs {
		got = append(got, pr.Var)
	}
	want := []string{config.EnvLogtoAppID, config.EnvLogtoAppSecret, config.EnvSessionSecret}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("problems with .env.example as is: %v, want exactly %v:\n%v", got, want, err)
	}
}

func TestOfflineStackWiring(t *testing.T) {
	p := loadProject(t, map[string]string{}, profileOffline)
	dev, spa := service(t, p, "bff-dev"), service(t, p, "spa-offline")

	if !slices.Equal([]string(dev.Command), []string{"dev"}) {
		t.Errorf("bff-dev command = %q, want [dev]", dev.Command)
	}
	if dev.NetworkMode != "service:spa-offline" {
		t.Errorf("bff-dev network_mode = %q, want service:spa-offline", dev.NetworkMode)
	}
	// As in the logto stack; the dev provider delivers back-channel logouts
	// to the BFF at its public URL, over the loopback.
	publicURL := env(dev, config.EnvPublicURL)
	checkBrowserReaches(t, spa, publicURL, nginxDefaultServerPort(t))
	checkUpstreamIsListen(t, env(spa, "NGINX_BFF_UPSTREAM"), env(dev, config.EnvListen))
	checkSameInside(t, publicURL, listenPort(t, env(dev, config.EnvListen)))
	checkSettingsKnown(t, dev)

	// bff dev's provider binds 127.0.0.1:3001 (issuer
	// http://localhost:3001/oidc). nginx listens on the container's own
	// address — its hostname — at the same port, and the host publishes that
	// port as 3001, so the issuer's URL works in the browser too.
	const issuerPort = 3001
	listenHost, listenPort, err := net.SplitHostPort(env(spa, "NGINX_DEV_IDP_LISTEN"))
	if err != nil || spa.Hostname == "" || listenHost != spa.Hostname || listenPort != itoa(issuerPort) {
		t.Errorf("NGINX_DEV_IDP_LISTEN = %q, want %s:%d (the container's hostname)", env(spa, "NGINX_DEV_IDP_LISTEN"), spa.Hostname, issuerPort)
	}
	if got := env(spa, "NGINX_DEV_IDP_UPSTREAM"); got != "127.0.0.1:"+itoa(issuerPort) {
		t.Errorf("NGINX_DEV_IDP_UPSTREAM = %q, want 127.0.0.1:%d", got, issuerPort)
	}
	checkBrowserReaches(t, spa, "http://localhost:"+itoa(issuerPort), issuerPort)

	// The server for the provider comes from the offline template set.
	dir := env(spa, "NGINX_ENVSUBST_TEMPLATE_DIR")
	if files := templateSets(t)[dir]; !slices.Contains(baseNames(files), "dev-idp.conf.template") {
		t.Errorf("NGINX_ENVSUBST_TEMPLATE_DIR = %q holds %v, want dev-idp.conf.template among them", dir, files)
	}
}

// checkBrowserReaches checks that rawURL is an http://localhost origin whose
// port the namespace owner publishes, on the loopback, to target — the port
// the service behind it listens on inside the namespace.
func checkBrowserReaches(t *testing.T, owner types.ServiceConfig, rawURL string, target int) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" || u.Hostname() != "localhost" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
		t.Errorf("%q: want an http://localhost:<port> origin", rawURL)
		return
	}
	for _, port := range owner.Ports {
		if port.Published == u.Port() {
			if int(port.Target) != target {
				t.Errorf("%q: %s publishes port %s to %d, want %d", rawURL, owner.Name, port.Published, port.Target, target)
			}
			if ip := net.ParseIP(port.HostIP); ip == nil || !ip.IsLoopback() {
				t.Errorf("%q: %s publishes port %s on %q, want the loopback only", rawURL, owner.Name, port.Published, port.HostIP)
			}
			return
		}
	}
	t.Errorf("%q: %s publishes no port %s", rawURL, owner.Name, u.Port())
}

// checkUpstreamIsListen checks that nginx's upstream (host:port) reaches the
// BFF's listen address over the loopback of their shared namespace.
func checkUpstreamIsListen(t *testing.T, upstream, listen string) {
	t.Helper()
	uh, up, err := net.SplitHostPort(upstream)
	if err != nil {
		t.Errorf("NGINX_BFF_UPSTREAM = %q: %v", upstream, err)
		return
	}
	lh, lp, err := net.SplitHostPort(listen)
	if err != nil {
		t.Errorf("BFF_LISTEN = %q: %v", listen, err)
		return
	}
	if ip := net.ParseIP(uh); ip == nil || !ip.IsLoopback() {
		t.Errorf("NGINX_BFF_UPSTREAM = %q, want a loopback address (the BFF shares nginx's namespace)", upstream)
	}
	if up != lp || (lh != "" && lh != "0.0.0.0" && lh != "::" && lh != uh) {
		t.Errorf("nginx proxies to %q but the BFF listens on %q", upstream, listen)
	}
}

// checkSameInside checks that rawURL, used inside the shared namespace,
// reaches the service listening on port there.
func checkSameInside(t *testing.T, rawURL, port string) {
	t.Helper()
	if u, err := url.Parse(rawURL); err != nil || u.Port() != port {
		t.Errorf("%q: inside the shared network namespace this port is not the one the service listens on (%s)", rawURL, port)
	}
}

func listenPort(t *testing.T, listen string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		t.Errorf("listen address %q: %v", listen, err)
	}
	return port
}

// checkSettingsKnown checks that every variable given to a BFF container is
// one the BFF reads, so a typo can't silently fall back to a default.
func checkSettingsKnown(t *testing.T, s types.ServiceConfig) {
	t.Helper()
	for _, name := range sortedKeys(s.Environment) {
		if _, ok := config.Lookup(name); !ok {
			t.Errorf("%s: %s is not a BFF setting (see backend/internal/config)", s.Name, name)
		}
	}
}

func envLookup(s types.ServiceConfig) func(string) string {
	return func(name string) string { return env(s, name) }
}

func itoa[T ~int | ~uint32](n T) string { return strconv.Itoa(int(n)) }
