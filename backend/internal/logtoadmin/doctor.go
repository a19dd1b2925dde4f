package logtoadmin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DoctorConfig is what Doctor checks: the BFF's own settings, and the
// Management API client for the deeper checks.
type DoctorConfig struct {
	// Endpoint, AppID and AppSecret are LOGTO_ENDPOINT, LOGTO_APP_ID and
	// LOGTO_APP_SECRET.
	Endpoint, AppID, AppSecret string
	// The URIs the app must have registered (from BFF_PUBLIC_URL).
	RedirectURI, PostLogoutRedirectURI, BackchannelLogoutURI string
	// Scopes is LOGTO_SCOPES; Resources is LOGTO_RESOURCES.
	Scopes, Resources []string
	// ClockSkew is BFF_CLOCK_SKEW: the largest difference allowed between
	// this machine's clock and Logto's.
	ClockSkew time.Duration
	// Discord requires the Discord connector (DISCORD_CLIENT_ID is set);
	// without it Discord is checked only when a Discord connector exists.
	Discord bool
	// Admin, when not nil, runs the checks that need the Management API.
	Admin *Client
	// HTTP is the client for the OIDC requests; nil means a 10 s timeout.
	HTTP *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Check is one line of Doctor's report.
type Check struct {
	// Name says what was checked.
	Name string
	// OK is true when the check passed (or was skipped).
	OK bool
	// Skipped says why the check did not run ("" when it ran).
	Skipped string
	// Problem and Fix explain a failure.
	Problem, Fix string
}

// Failed reports whether any check failed.
func Failed(checks []Check) bool {
	return slices.ContainsFunc(checks, func(c Check) bool { return !c.OK })
}

type doctor struct {
	cfg    DoctorConfig
	http   *http.Client
	checks []Check
}

func (d *doctor) ok(name string) { d.checks = append(d.checks, Check{Name: name, OK: true}) }
func (d *doctor) skip(name, why string) {
	d.checks = append(d.checks, Check{Name: name, OK: true, Skipped: why})
}
func (d *doctor) fail(name, problem, fix string) {
	d.checks = append(d.checks, Check{Name: name, Problem: problem, Fix: fix})
}

// discoveryDoc is the part of the discovery document Doctor reads.
type discoveryDoc struct {
	Issuer             string   `json:"issuer"`
	TokenEndpoint      string   `json:"token_endpoint"`
	RevocationEndpoint string   `json:"revocation_endpoint"`
	ScopesSupported    []string `json:"scopes_supported"`
	GrantTypes         []string `json:"grant_types_supported"`
}

// Doctor runs every check it can with cfg and returns one Check per line.
// It changes nothing: the credential probe revokes a random token nobody
// holds (RFC 7009 answers 200 for an unknown token after authenticating
// the client).
func Doctor(ctx context.Context, cfg DoctorConfig) []Check {
	d := &doctor{cfg: cfg, http: cfg.HTTP}
	if d.http == nil {
		d.http = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		d.cfg.Now = time.Now
	}
	d.cfg.Endpoint = strings.TrimRight(cfg.Endpoint, "/")
	disc := d.checkDiscovery(ctx)
	if disc != nil {
		d.checkCredentials(ctx, disc)
		d.checkOfflineAccess(disc)
	}
	if cfg.Admin == nil {
		d.skip("application URIs, API resources, Discord connector", "set LOGTO_M2M_APP_ID and LOGTO_M2M_APP_SECRET for these checks")
		return d.checks
	}
	if _, err := cfg.Admin.Token(ctx); err != nil {
		d.failErr("Management API access", err, "")
		return d.checks
	}
	d.ok("Management API access")
	d.checkApp(ctx)
	d.checkResources(ctx)
	d.checkDiscord(ctx)
	return d.checks
}

func (d *doctor) failErr(name string, err error, fix string) {
	var fe *FixError
	if errors.As(err, &fe) {
		d.fail(name, fe.Err.Error(), fe.Fix)
		return
	}
	d.fail(name, err.Error(), fix)
}

func (d *doctor) checkDiscovery(ctx context.Context) *discoveryDoc {
	const name = "discovery"
	issuer := d.cfg.Endpoint + "/oidc"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		d.fail(name, err.Error(), "check LOGTO_ENDPOINT")
		return nil
	}
	sent := d.cfg.Now()
	resp, err := d.http.Do(req)
	if err != nil {
		d.fail(name, fmt.Sprintf("%s is unreachable: %v", issuer, err), "check LOGTO_ENDPOINT and that Logto is running")
		return nil
	}
	defer resp.Body.Close()
	got := d.cfg.Now()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		d.fail(name, fmt.Sprintf("%s/.well-known/openid-configuration answered %d", issuer, resp.StatusCode), "LOGTO_ENDPOINT is the tenant endpoint, e.g. https://tenant.logto.app, without /oidc")
		return nil
	}
	var doc discoveryDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		d.fail(name, "the discovery document is not JSON", "LOGTO_ENDPOINT must point at Logto")
		return nil
	}
	if doc.Issuer != issuer {
		d.fail(name+" issuer", fmt.Sprintf("issuer is %q, expected %q", doc.Issuer, issuer), "set LOGTO_ENDPOINT to the URL Logto knows itself by (its ENDPOINT setting, or the custom domain)")
	} else {
		d.ok(name + ": issuer " + issuer)
	}
	d.checkClock(resp.Header.Get("Date"), sent, got)
	return &doc
}

func (d *doctor) checkClock(date string, sent, got time.Time) {
	const name = "clock skew"
	t, err := http.ParseTime(date)
	if err != nil {
		d.fail(name, "Logto's answer has no valid Date header", "")
		return
	}
	mid := sent.Add(got.Sub(sent) / 2)
	// Date has a resolution of one second.
	skew := mid.Sub(t) - 500*time.Millisecond
	if skew < 0 {
		skew = -skew
	}
	if skew >= d.cfg.ClockSkew {
		d.fail(name, fmt.Sprintf("this clock and Logto's differ by about %s, BFF_CLOCK_SKEW is %s", skew.Round(time.Second), d.cfg.ClockSkew),
			"synchronise the clocks (NTP) on both machines")
		return
	}
	d.ok(fmt.Sprintf("%s: about %s (below BFF_CLOCK_SKEW %s)", name, skew.Round(time.Second), d.cfg.ClockSkew))
}

// checkCredentials proves LOGTO_APP_ID/SECRET by revoking a random token:
// Logto authenticates the client first (invalid_client on a wrong secret)
// and answers 200 for a token it does not know.
func (d *doctor) checkCredentials(ctx context.Context, disc *discoveryDoc) {
	const name = "app credentials (LOGTO_APP_ID, LOGTO_APP_SECRET)"
	if d.cfg.AppID == "" || d.cfg.AppSecret == "" {
		d.fail(name, "LOGTO_APP_ID or LOGTO_APP_SECRET is not set", "run bff logto setup --env-file, or copy them from Console → Applications → your app")
		return
	}
	if disc.RevocationEndpoint == "" {
		d.fail(name, "discovery has no revocation_endpoint", "")
		return
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	form := url.Values{"token": {base64.RawURLEncoding.EncodeToString(b)}, "token_type_hint": {"refresh_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, disc.RevocationEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		d.fail(name, err.Error(), "")
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(d.cfg.AppID), url.QueryEscape(d.cfg.AppSecret))
	resp, err := d.http.Do(req)
	if err != nil {
		d.fail(name, "revocation endpoint unreachable: "+err.Error(), "check LOGTO_ENDPOINT")
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		d.ok(name + ": accepted")
		return
	}
	var oe oauthError
	_ = json.Unmarshal(body, &oe)
	if oe.Error == "invalid_client" {
		d.fail(name, "Logto rejected them (invalid_client)", "copy App ID and an App secret from Console → Applications → your app, or run bff logto setup --env-file")
		return
	}
	d.fail(name, fmt.Sprintf("the revocation probe answered %d %s", resp.StatusCode, oe.Error), "")
}

func (d *doctor) checkOfflineAccess(disc *discoveryDoc) {
	const name = "offline_access (refresh tokens)"
	switch {
	case !slices.Contains(d.cfg.Scopes, "offline_access"):
		d.fail(name, "LOGTO_SCOPES lacks offline_access: sessions end when the first access token expires", "add offline_access to LOGTO_SCOPES")
	case !slices.Contains(disc.ScopesSupported, "offline_access"):
		d.fail(name, "discovery does not list offline_access in scopes_supported", "")
	case len(disc.GrantTypes) > 0 && !slices.Contains(disc.GrantTypes, "refresh_token"):
		d.fail(name, "discovery does not list the refresh_token grant", "")
	default:
		d.ok(name + ": requested, and offered by Logto")
	}
}

func (d *doctor) checkApp(ctx context.Context) {
	const name = "application"
	if d.cfg.AppID == "" {
		d.fail(name, "LOGTO_APP_ID is not set", "run bff logto setup --env-file")
		return
	}
	app, err := d.cfg.Admin.Application(ctx, d.cfg.AppID)
	if errors.Is(err, ErrNotFound) {
		d.fail(name, fmt.Sprintf("LOGTO_APP_ID %q is not an application of this tenant", d.cfg.AppID), "run bff logto setup --env-file")
		return
	}
	if err != nil {
		d.failErr(name, err, "")
		return
	}
	if app.Type != AppTypeTraditional {
		d.fail(name, fmt.Sprintf("%q is a %s app, not Traditional web (no refresh tokens for a confidential client)", app.Name, app.Type), "create a Traditional web app: bff logto setup")
	} else {
		d.ok(fmt.Sprintf("%s %q: Traditional web (refresh tokens allowed)", name, app.Name))
	}
	md := app.OIDCClientMetadata
	fix := "run bff logto setup, or Console → Applications → " + app.Name + " → "
	uri := func(what, want string, have []string, field string) {
		if slices.Contains(have, want) {
			d.ok(fmt.Sprintf("%s %s registered", what, want))
			return
		}
		d.fail(what, fmt.Sprintf("%s is not registered (registered: %q)", want, have), fix+field+": "+want)
	}
	uri("redirect URI", d.cfg.RedirectURI, md.RedirectURIs, "Redirect URIs")
	uri("post sign-out redirect URI", d.cfg.PostLogoutRedirectURI, md.PostLogoutRedirectURIs, "Post sign-out redirect URIs")
	switch {
	case md.BackchannelLogoutURI != d.cfg.BackchannelLogoutURI:
		d.fail("back-channel logout URI", fmt.Sprintf("%q registered, expected %s", md.BackchannelLogoutURI, d.cfg.BackchannelLogoutURI), fix+"Backchannel logout URI: "+d.cfg.BackchannelLogoutURI)
	case !md.BackchannelLogoutSessionRequired:
		d.fail("back-channel logout \"session required\"", "off: Logto sends no sid, so signing out of one browser cannot end only that browser's session", fix+"Is session required: on")
	default:
		d.ok(fmt.Sprintf("back-channel logout URI %s registered, session required", d.cfg.BackchannelLogoutURI))
	}
}

func (d *doctor) checkResources(ctx context.Context) {
	if len(d.cfg.Resources) == 0 {
		d.skip("API resources", "LOGTO_RESOURCES is empty")
		return
	}
	have, err := d.cfg.Admin.Resources(ctx)
	if err != nil {
		d.failErr("API resources", err, "")
		return
	}
	for _, ind := range d.cfg.Resources {
		if slices.ContainsFunc(have, func(r Resource) bool { return r.Indicator == ind }) {
			d.ok("API resource " + ind + " exists")
		} else {
			d.fail("API resource "+ind, "no API resource has this indicator", "run bff logto setup, or Console → API resources → Create API resource: "+ind)
		}
	}
}

func (d *doctor) checkDiscord(ctx context.Context) {
	const name = "Discord connector"
	conns, err := d.cfg.Admin.Connectors(ctx)
	if err != nil {
		d.failErr(name, err, "")
		return
	}
	i := slices.IndexFunc(conns, IsDiscord)
	if i < 0 {
		if d.cfg.Discord {
			d.fail(name, "DISCORD_CLIENT_ID is set but Logto has no Discord connector", "run bff logto setup, or Console → Connectors → Social → Discord")
		} else {
			d.skip(name, "no Discord connector and DISCORD_CLIENT_ID unset")
		}
		return
	}
	cn := conns[i]
	d.ok(fmt.Sprintf("%s exists (id %s; register %s/callback/%s at Discord)", name, cn.ID, d.cfg.Endpoint, cn.ID))
	sie, err := d.cfg.Admin.SignInExperience(ctx)
	if err != nil {
		d.failErr("sign-in experience", err, "")
		return
	}
	if slices.Contains(sie.SocialSignInConnectorTargets, "discord") {
		d.ok("Discord is in the sign-in experience")
	} else {
		d.fail("Discord in the sign-in experience", "the sign-in page offers no Discord button", "run bff logto setup, or Console → Sign-in experience → Sign-up and sign-in → Social sign-in: add Discord")
	}
	if len(sie.SignUp.Identifiers) > 0 && !sie.SocialSignIn.SkipRequiredIdentifiers {
		d.fail("social sign-in without a username", fmt.Sprintf("sign-up requires %q and socialSignIn.skipRequiredIdentifiers is off: a new Discord user stops on \"Set username\"", sie.SignUp.Identifiers),
			"run bff logto setup (it sets skipRequiredIdentifiers), or Console → Sign-in experience → Social sign-in: skip the required identifiers")
	} else {
		d.ok("a new Discord user is not asked for a username")
	}
}
