package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/logto-bff/bff/backend/internal/devidp"
)

// The comparison: oauth2-proxy at a pinned version, run as the issue's
// side-by-side measurement ran it (OIDC provider, Redis session store, the
// same upstream and the same Redis as the BFF, its default request log).
const (
	oauth2ProxyModule  = "github.com/oauth2-proxy/oauth2-proxy/v7"
	oauth2ProxyVersion = "v7.15.6"
	oauth2ProxyClient  = "oauth2-proxy"
	oauth2ProxyCookie  = "_oauth2_proxy"
)

// oauth2Proxy is the oauth2-proxy process.
type oauth2Proxy struct {
	url     string // http://127.0.0.1:port
	logPath string
	secret  string // its client secret at the dev IdP
	c       *child
	cookie  string // "_oauth2_proxy=<ticket>" of the benchmark session
}

// installOAuth2Proxy returns an oauth2-proxy binary of oauth2ProxyVersion:
// -oauth2-proxy when given, else dir/oauth2-proxy, installed there with
// `go install module@version` when it is missing or of another version
// (the version is read from the binary's build information).
func (h *harness) installOAuth2Proxy(ctx context.Context) (string, error) {
	if h.o.oauth2ProxyBinary != "" {
		return h.o.oauth2ProxyBinary, nil
	}
	dir, err := filepath.Abs(h.o.toolsDir)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "oauth2-proxy")
	if out, err := exec.CommandContext(ctx, "go", "version", "-m", bin).Output(); err == nil &&
		bytes.Contains(out, []byte(oauth2ProxyModule+"\t"+oauth2ProxyVersion)) {
		return bin, nil
	}
	h.logf("installing oauth2-proxy %s into %s (go install; a few minutes on a cold cache)", oauth2ProxyVersion, dir)
	cmd := exec.CommandContext(ctx, "go", "install", oauth2ProxyModule+"@"+oauth2ProxyVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s (or pass -skip-oauth2-proxy)", oauth2ProxyModule, oauth2ProxyVersion, err, out)
	}
	return bin, nil
}

// oauth2ProxyArgs is oauth2-proxy's command line: the dev IdP as a generic
// OIDC provider (its ID tokens are ES384, which oauth2-proxy takes from
// discovery; named here so a default change shows), PKCE, a Redis
// session store on the BFF's Redis, the upstream's /proxied/ path (the
// ID token as bearer, so the upstream's bearer check passes), plain-http
// cookies and its default logging (request log on, to stdout).
func oauth2ProxyArgs(p *oauth2Proxy, issuer, upstream, redisAddr, cookieSecret string) []string {
	return []string{
		"--provider=oidc",
		"--oidc-issuer-url=" + issuer,
		"--oidc-enabled-signing-alg=ES384",
		"--client-id=" + oauth2ProxyClient,
		"--client-secret=" + p.secret,
		"--code-challenge-method=S256",
		"--scope=openid profile email",
		"--redirect-url=" + p.url + "/oauth2/callback",
		"--http-address=" + strings.TrimPrefix(p.url, "http://"),
		"--upstream=" + upstream + "/proxied/",
		"--pass-authorization-header",
		"--session-store-type=redis",
		"--redis-connection-url=redis://" + redisAddr + "/0",
		"--cookie-secret=" + cookieSecret,
		"--cookie-secure=false",
		"--email-domain=*",
		"--skip-provider-button",
	}
}

// startOAuth2Proxy starts oauth2-proxy with its log in p.logPath and
// waits until /ping answers.
func (h *harness) startOAuth2Proxy(ctx context.Context, bin string, p *oauth2Proxy) error {
	h.logf("starting oauth2-proxy %s at %s", oauth2ProxyVersion, p.url)
	// A cookie secret must be 16, 24 or 32 bytes; rand.Text is 26
	// base32 characters.
	cookieSecret := (rand.Text() + rand.Text())[:32]
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, oauth2ProxyArgs(p, h.endpoint+"/oidc", h.upURL, h.redisAddr, cookieSecret)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OAUTH2_PROXY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if p.c, err = startChild("oauth2-proxy", cmd); err != nil {
		return err
	}
	if err := waitReady(ctx, p.c, p.url+"/ping"); err != nil {
		return fmt.Errorf("%w (log: %s)", err, tail(p.logPath, 2000))
	}
	return nil
}

// signInOAuth2Proxy signs alice in through oauth2-proxy (/oauth2/start,
// the IdP's form, /oauth2/callback) and checks its userinfo names her.
func (h *harness) signInOAuth2Proxy(ctx context.Context, p *oauth2Proxy) error {
	br, err := newBrowserFor(p.url, "/oauth2/", oauth2ProxyCookie, true)
	if err != nil {
		return err
	}
	resp, err := br.signInAt(ctx, p.url+"/oauth2/start?rd=%2Fproxied%2Fitem", false)
	if err != nil {
		return fmt.Errorf("oauth2-proxy: %w", err)
	}
	if resp.Request.URL.Path != "/oauth2/callback" || resp.StatusCode/100 != 3 {
		return fmt.Errorf("oauth2-proxy sign-in ended with %d at %s, want the callback's redirect (log: %s)",
			resp.StatusCode, resp.Request.URL.Path, tail(p.logPath, 2000))
	}
	if p.cookie, err = br.cookieHeader(); err != nil {
		return fmt.Errorf("oauth2-proxy: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/oauth2/userinfo", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Cookie", p.cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(res.Body)
	if res.StatusCode != http.StatusOK || !bytes.Contains(buf.Bytes(), []byte(devidp.AliceID)) {
		return fmt.Errorf("oauth2-proxy /oauth2/userinfo answered %d without alice's id", res.StatusCode)
	}
	return nil
}
