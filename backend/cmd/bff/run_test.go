package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/config"
	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type running struct {
	ready          Ready
	stdout, stderr *syncBuffer
	stop           func() error // cancels ctx and returns run's error
}

// startRun runs the whole program in a goroutine and waits until it is ready.
func startRun(t *testing.T, args []string, env map[string]string) *running {
	t.Helper()
	if _, ok := env[config.EnvMetricsListen]; !ok {
		env[config.EnvMetricsListen] = "127.0.0.1:0" // never the fixed default port in a test
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	readyCh := make(chan Ready, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, func(k string) string { return env[k] }, r.stdout, r.stderr, withReady(func(rd Ready) { readyCh <- rd }))
	}()
	var once sync.Once
	var runErr error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(20 * time.Second):
				runErr = errors.New("run did not return after cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = r.stop() })
	select {
	case r.ready = <-readyCh:
	case err := <-done:
		t.Fatalf("run returned before ready: %v\nstderr:\n%s", err, r.stderr)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not become ready")
	}
	return r
}

// newBrowser is a cookie-jar client that follows redirects except to
// BFF pages outside /auth (where a sign-in lands). dial, if set, maps a
// host:port to another address (a public host name onto the test port).
func newBrowser(bffHost string, dial map[string]string) *http.Client {
	jar, _ := cookiejar.New(nil)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if dial != nil {
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if to, ok := dial[addr]; ok {
				addr = to
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
	}
	return &http.Client{Jar: jar, Transport: tr, Timeout: 15 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host == bffHost && !strings.HasPrefix(req.URL.Path, "/auth/") {
				return http.ErrUseLastResponse
			}
			return nil
		}}
}

func get(t *testing.T, c *http.Client, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	nc := *c
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := nc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// waitReady polls /readyz until discovery (in the background) is done.
func waitReady(t *testing.T, c *http.Client, base string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := get(t, c, base+"/readyz")
		if resp.StatusCode == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz stayed %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signInAlice runs the sign-in through the BFF at base and returns the
// callback's final answer.
func signInAlice(t *testing.T, c *http.Client, base string) {
	t.Helper()
	resp, body := get(t, c, base+"/auth/sign-in?returnTo=/home")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in = %d %s", resp.StatusCode, body)
	}
	final, err := devidptest.SignIn(context.Background(), c, resp.Header.Get("Location"), devidp.AliceUsername, devidp.AlicePassword)
	if err != nil {
		t.Fatal(err)
	}
	final.Body.Close()
	if final.StatusCode != http.StatusSeeOther || final.Header.Get("Location") != "/home" {
		t.Fatalf("callback = %d %q", final.StatusCode, final.Header.Get("Location"))
	}
}

func meName(t *testing.T, c *http.Client, base string) (int, string, []byte) {
	t.Helper()
	resp, body := get(t, c, base+"/api/me", "X-CSRF", "1")
	var m struct {
		User struct {
			Name string `json:"name"`
		} `json:"user"`
	}
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m.User.Name, body
}

func TestRunServesFromEnvironment(t *testing.T) {
	const publicHost = "bff.test"
	idpSrv := httptest.NewUnstartedServer(nil)
	idp, err := devidp.New(devidp.Config{
		Issuer: "http://" + idpSrv.Listener.Addr().String() + "/oidc",
		Clients: []devidp.Client{{ID: "app", Secret: "app-secret",
			RedirectURIs: []string{"http://" + publicHost + "/auth/callback"}, PostLogoutRedirectURIs: []string{"http://" + publicHost + "/"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	idpSrv.Config.Handler = idp
	idpSrv.Start()
	t.Cleanup(idpSrv.Close)

	env := map[string]string{
		config.EnvLogtoEndpoint:  idpSrv.URL,
		config.EnvLogtoAppID:     "app",
		config.EnvLogtoAppSecret: "app-secret",
		config.EnvPublicURL:      "http://" + publicHost,
		config.EnvListen:         "127.0.0.1:0",
		config.EnvSessionSecret:  "a-session-secret-of-at-least-32-bytes",
		config.EnvCookieSecure:   "false",
		config.EnvMetricsListen:  "127.0.0.1:0",
	}
	r := startRun(t, nil, env)
	if r.ready.MetricsAddr == "" {
		t.Fatal("no separate metrics listener")
	}
	if _, port, _ := net.SplitHostPort(r.ready.Addr); port == "0" || port == "" {
		t.Fatalf("ready address %q has no real port", r.ready.Addr)
	}
	// The public host name reaches the test port, as through a proxy.
	c := newBrowser(publicHost, map[string]string{publicHost + ":80": r.ready.Addr})
	base := "http://" + publicHost

	if resp, body := get(t, c, base+"/healthz"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d %s", resp.StatusCode, body)
	}
	waitReady(t, c, base)
	if resp, _ := get(t, c, base+"/healthz", "X-Big", strings.Repeat("h", 40<<10)); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("40 KiB of headers: %d, want 431", resp.StatusCode)
	}
	signInAlice(t, c, base)
	if code, name, body := meName(t, c, base); code != http.StatusOK || name != "Alice Example" {
		t.Fatalf("/api/me = %d %s", code, body)
	}
	// /metrics on its own listener, never on the main one.
	if resp, m := get(t, c, "http://"+r.ready.MetricsAddr+"/metrics"); resp.StatusCode != http.StatusOK || !strings.Contains(string(m), `bff_sign_ins_total{result="success"} 1`) {
		t.Errorf("separate /metrics = %d:\n%s", resp.StatusCode, m)
	}
	if resp, _ := get(t, c, base+"/metrics"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the main listener = %d, want 404", resp.StatusCode)
	}
	if err := run(context.Background(), []string{"healthcheck"}, func(k string) string {
		return map[string]string{config.EnvListen: r.ready.Addr}[k]
	}, io.Discard, io.Discard); err != nil {
		t.Errorf("healthcheck: %v", err)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
	logs := r.stderr.String()
	if !strings.Contains(logs, `"msg":"listening"`) || !strings.Contains(logs, `"route":"/auth/callback"`) {
		t.Errorf("expected JSON logs with a listening line and access lines:\n%s", logs)
	}
	for _, secret := range append(idp.IssuedTokens(), "app-secret", env[config.EnvSessionSecret], "code=") {
		if strings.Contains(logs, secret) {
			t.Fatalf("logs contain a secret or token")
		}
	}
	if err := run(context.Background(), []string{"healthcheck"}, func(k string) string {
		return map[string]string{config.EnvListen: r.ready.Addr}[k]
	}, io.Discard, io.Discard); err == nil {
		t.Error("healthcheck passed after shutdown")
	}
}

func TestRunStartsBeforeTheIdP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there
	r := startRun(t, nil, map[string]string{
		config.EnvLogtoEndpoint: down, config.EnvLogtoAppID: "app", config.EnvLogtoAppSecret: "s",
		config.EnvPublicURL: "http://localhost:1", config.EnvListen: "127.0.0.1:0",
		config.EnvSessionSecret: strings.Repeat("k", 32), config.EnvLogFormat: "text",
	})
	c := newBrowser("", nil)
	base := "http://" + r.ready.Addr
	if resp, _ := get(t, c, base+"/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz = %d", resp.StatusCode)
	}
	if resp, body := get(t, c, base+"/readyz"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"idp":"unavailable"`) {
		t.Errorf("/readyz = %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, c, base+"/auth/sign-in"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "identity provider is unavailable") {
		t.Errorf("sign-in = %d %s", resp.StatusCode, body)
	}
}

func TestRunDev(t *testing.T) {
	r := startRun(t, []string{"dev"}, map[string]string{
		config.EnvListen: "127.0.0.1:0", envDevIDPListen: "127.0.0.1:0", envDevExposeTokens: "1",
	})
	pub, _ := url.Parse(r.ready.PublicURL)
	if pub.Hostname() != "localhost" || !strings.HasPrefix(r.ready.IssuerURL, "http://localhost:") || !strings.HasSuffix(r.ready.IssuerURL, "/oidc") {
		t.Fatalf("ready = %+v", r.ready)
	}
	out := r.stdout.String()
	for _, want := range []string{"FOR DEVELOPMENT ONLY", r.ready.PublicURL + "/", devidp.AliceUsername, devidp.AlicePassword, "Discord"} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	c := newBrowser(pub.Host, nil)
	waitReady(t, c, r.ready.PublicURL)
	signInAlice(t, c, r.ready.PublicURL)
	code, name, body := meName(t, c, r.ready.PublicURL)
	if code != http.StatusOK || name != "Alice Example" {
		t.Fatalf("/api/me = %d %s", code, body)
	}
	for _, ck := range c.Jar.Cookies(pub) {
		if strings.HasPrefix(ck.Name, "__Host-") {
			t.Errorf("dev on http must not use __Host- cookies: %s", ck.Name)
		}
	}
	// BFF_DEV_EXPOSE_TOKENS=1: the IdP lists its tokens; none is in /api/me.
	resp, tokens := get(t, c, r.ready.IssuerURL+"/__dev/issued-tokens")
	var issued []string
	if resp.StatusCode != http.StatusOK || json.Unmarshal(tokens, &issued) != nil || len(issued) == 0 {
		t.Fatalf("issued tokens = %d %s", resp.StatusCode, tokens)
	}
	for _, tok := range issued {
		if strings.Contains(string(body), tok) {
			t.Fatal("a token is in /api/me")
		}
	}
	// The demo API behind the default "demo" route: a JWT for the dev
	// resource, verified by the demo API, and no token in the answer.
	resp, hello := get(t, c, r.ready.PublicURL+"/api/proxy/demo/hello", "X-CSRF", "1")
	var demo struct {
		Message, Subject, Scope string
		Audience                []string
		TokenExpiresAt          time.Time
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(hello, &demo) != nil || demo.Message != "Hello from the demo API" ||
		demo.Subject != devidp.AliceID || len(demo.Audience) != 1 || demo.Audience[0] != devidp.DefaultResourceIndicator ||
		demo.Scope != "read:demo" || demo.TokenExpiresAt.IsZero() {
		t.Fatalf("demo API = %d %s", resp.StatusCode, hello)
	}
	if !strings.Contains(out, "/api/proxy/demo/hello") {
		t.Errorf("banner does not show the demo API:\n%s", out)
	}
	// bff dev too: /metrics on its own (loopback) listener, shown in the
	// banner, and 404 on the main listener.
	metricsURL := "http://" + r.ready.MetricsAddr + "/metrics"
	if !strings.Contains(out, metricsURL) {
		t.Errorf("banner does not show %s:\n%s", metricsURL, out)
	}
	if resp, m := get(t, c, metricsURL); resp.StatusCode != http.StatusOK || !strings.Contains(string(m), `bff_proxy_upstream_duration_seconds_count{code="200",route="demo"} 1`) {
		t.Errorf("/metrics = %d:\n%s", resp.StatusCode, m)
	}
	if resp, _ := get(t, c, r.ready.PublicURL+"/metrics"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the main listener = %d, want 404", resp.StatusCode)
	}
	// Sign-out reaches the IdP's end session; its back-channel logout
	// (session required, so with sid) reaches the BFF and is accepted.
	req, _ := http.NewRequest(http.MethodPost, r.ready.PublicURL+"/auth/sign-out", nil)
	req.Header.Set("Origin", r.ready.PublicURL)
	nc := *c
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := nc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out = %d", resp.StatusCode)
	}
	final, err := devidptest.SignOut(context.Background(), c, resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	final.Body.Close()
	if resp, m := get(t, c, metricsURL); !strings.Contains(string(m), `bff_backchannel_logouts_total{result="success"} 1`) {
		t.Errorf("no successful back-channel logout in /metrics (%d)", resp.StatusCode)
	}
	for _, tok := range issued {
		if strings.Contains(string(hello), tok) || strings.Contains(r.stdout.String()+r.stderr.String(), tok) {
			t.Fatal("a token is in the demo answer or the output")
		}
	}
	if !strings.Contains(r.stderr.String(), "DEVELOPMENT ONLY") {
		t.Errorf("no development warning in the logs")
	}
	if err := r.stop(); err != nil {
		t.Fatalf("dev after cancel: %v", err)
	}
}

func TestRunDevRefusesNonLoopback(t *testing.T) {
	for _, env := range []map[string]string{
		{config.EnvListen: "0.0.0.0:0", envDevIDPListen: "127.0.0.1:0"},
		{config.EnvListen: ":0", envDevIDPListen: "127.0.0.1:0"},
		{config.EnvListen: "127.0.0.1:0", envDevIDPListen: "0.0.0.0:0"},
		{config.EnvListen: "127.0.0.1:0", envDevIDPListen: ":0"},
		{config.EnvListen: "example.com:0", envDevIDPListen: "127.0.0.1:0"},
		{config.EnvListen: "127.0.0.1:0", envDevIDPListen: "127.0.0.1:0", config.EnvPublicURL: "https://app.example.com"},
		{config.EnvListen: "127.0.0.1:0", envDevIDPListen: "127.0.0.1:0", config.EnvMetricsListen: ":0"},
	} {
		err := run(context.Background(), []string{"dev"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%v: err = %v, want a loopback refusal", env, err)
		}
	}
}

func TestRunConfigErrors(t *testing.T) {
	const secret = "short-secret-VALUE"
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), nil, func(k string) string {
		return map[string]string{config.EnvSessionSecret: secret, config.EnvLogtoEndpoint: "nope", config.EnvLogLevel: "chatty"}[k]
	}, &stdout, &stderr)
	var ce configError
	if !errors.As(err, &ce) || exitCode(err) != 2 {
		t.Fatalf("err = %v, want a configError", err)
	}
	msg := err.Error()
	for _, v := range []string{config.EnvLogtoEndpoint, config.EnvLogtoAppID, config.EnvLogtoAppSecret, config.EnvPublicURL, config.EnvSessionSecret, config.EnvLogLevel} {
		if !strings.Contains(msg, "\n"+v+": ") {
			t.Errorf("no line for %s:\n%s", v, msg)
		}
	}
	if strings.Contains(msg+stdout.String()+stderr.String(), secret) {
		t.Error("the secret was printed")
	}
}

func TestHelpAndUsage(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, s := range config.Settings {
		if !strings.Contains(out.String(), s.Name) {
			t.Errorf("--help lacks %s", s.Name)
		}
	}
	for _, v := range []string{envDevIDPListen, envDevExposeTokens, "healthcheck", "dev"} {
		if !strings.Contains(out.String(), v) {
			t.Errorf("--help lacks %s", v)
		}
	}
	for _, args := range [][]string{{"serve-please"}, {"dev", "extra"}} {
		if err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard); exitCode(err) != 2 {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
}

func TestHealthcheckDefaultsToLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, listen := range []string{":" + port, "0.0.0.0:" + port, "127.0.0.1:" + port} {
		if err := runHealthcheck(context.Background(), nil, func(string) string { return listen }); err != nil {
			t.Errorf("%s: %v", listen, err)
		}
	}
	if err := runHealthcheck(context.Background(), nil, func(string) string { return "nonsense" }); exitCode(err) != 2 {
		t.Errorf("bad BFF_LISTEN: %v", err)
	}
}

// TestHealthcheckNamespaceOwner: with --namespace-owner, the check fails
// when the owner does not answer even though the BFF itself is healthy,
// and never signals a PID 1 that is not this program.
func TestHealthcheckNamespaceOwner(t *testing.T) {
	bff := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer bff.Close()
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	getenv := func(string) string { return bff.Listener.Addr().String() }
	check := func(args ...string) error {
		return run(context.Background(), append([]string{"healthcheck"}, args...), getenv, io.Discard, io.Discard)
	}
	if err := check("--namespace-owner", owner.URL+"/index.html"); err != nil {
		t.Fatalf("owner up: %v", err)
	}
	owner.Close() // the owner is gone; the BFF still answers
	err := check("--namespace-owner", owner.URL+"/index.html")
	if err == nil || !strings.Contains(err.Error(), "namespace owner unreachable") || strings.Contains(err.Error(), "stopping") {
		t.Fatalf("owner gone: err = %v, want a failure that stops nothing (PID 1 here is not bff)", err)
	}
	for _, args := range [][]string{{"--namespace-owner"}, {"--namespace-owner", "localhost:80"}, {"--owner", "http://x"}} {
		if err := check(args...); exitCode(err) != 2 {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
}
