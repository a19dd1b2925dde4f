// Package logtoadmin is a small client of Logto's Management API and the
// two jobs built on it: [Setup] (create or repair what the BFF needs in a
// Logto tenant) and [Doctor] (check a deployment's settings against Logto).
//
// The client authenticates as a machine-to-machine app with the client
// credentials grant (scope "all", the Management API resource). It never
// logs and never puts a secret in an error: errors name the setting or the
// console step that fixes them.
package logtoadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultManagementResource is the Management API's resource indicator on a
// self-hosted Logto (tenant "default"); Logto Cloud uses
// https://<tenant-id>.logto.app/api.
const DefaultManagementResource = "https://default.logto.app/api"

// Sentinel errors; every error the client returns wraps at most one of them.
var (
	// ErrUnreachable: Logto did not answer (connection refused, DNS, timeout).
	ErrUnreachable = errors.New("logto is unreachable")
	// ErrCredentials: the token endpoint rejected the M2M app id or secret.
	ErrCredentials = errors.New("logto rejected the M2M app credentials")
	// ErrResource: the Management API resource indicator is unknown.
	ErrResource = errors.New("unknown Management API resource")
	// ErrForbidden: the M2M app lacks the Management API role.
	ErrForbidden = errors.New("the M2M app may not use the Management API")
	// ErrIssuer: discovery's issuer is not <endpoint>/oidc.
	ErrIssuer = errors.New("issuer mismatch")
	// ErrNotFound: the Management API answered 404.
	ErrNotFound = errors.New("not found")
)

// Fix texts for the errors above, shown to the person running the command.
const (
	fixCredentials = "check LOGTO_M2M_APP_ID and LOGTO_M2M_APP_SECRET: Console → Applications → your machine-to-machine app → App ID and App secrets"
	fixResource    = "set LOGTO_MANAGEMENT_RESOURCE: https://default.logto.app/api for a self-hosted Logto, https://<tenant-id>.logto.app/api on Logto Cloud"
	fixRole        = "Console → Applications → your machine-to-machine app → Roles → Assign roles → \"Logto Management API access\" (a role with the Management API's \"all\" permission)"
)

// Config says where the Management API is and how to authenticate.
type Config struct {
	// Endpoint is the tenant endpoint, e.g. http://localhost:3001 (no /oidc).
	Endpoint string
	// AppID and AppSecret are the M2M app's credentials.
	AppID, AppSecret string
	// Resource is the Management API indicator; "" means
	// DefaultManagementResource.
	Resource string
	// HTTP is the client to use; nil means one with a 15 s timeout.
	HTTP *http.Client
}

// Client calls the Management API. It fetches an access token on first use
// and again when it is about to expire. Safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
}

// New returns a client for cfg; it makes no request.
func New(cfg Config) *Client {
	cfg.Endpoint = strings.TrimRight(cfg.Endpoint, "/")
	if cfg.Resource == "" {
		cfg.Resource = DefaultManagementResource
	}
	hc := cfg.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	return &Client{cfg: cfg, http: hc}
}

// Endpoint is the tenant endpoint the client talks to (no trailing slash).
func (c *Client) Endpoint() string { return c.cfg.Endpoint }

// FixError is an error with the step that fixes it.
type FixError struct {
	// Err is what went wrong; it wraps one of the package's sentinels.
	Err error
	// Fix says what to do about it.
	Fix string
}

func (e *FixError) Error() string { return e.Err.Error() + " — " + e.Fix }

func (e *FixError) Unwrap() error { return e.Err }

// APIError is a Management API answer with a status of 400 or more. Its
// text holds Logto's error code and message, never a request body.
type APIError struct {
	Method, Path string
	Status       int
	// Code is Logto's error code, e.g. "entity.not_exists".
	Code    string
	Message string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s /api%s: %d %s %s", e.Method, e.Path, e.Status, e.Code, e.Message)
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		s += " — " + fixRole
	}
	return s
}

// Unwrap maps 404 to ErrNotFound and 401/403 to ErrForbidden.
func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return &FixError{Err: ErrForbidden, Fix: fixRole}
	}
	return nil
}

// oauthError is the token endpoint's error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// Token returns a Management API access token, fetching one when there is
// none or it expires within a minute. It checks that the token carries the
// "all" scope: Logto issues a token without it to an M2M app that lacks the
// Management API role, and every call then fails with 403.
func (c *Client) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && time.Until(c.expires) > time.Minute {
		return c.token, nil
	}
	if c.cfg.AppID == "" || c.cfg.AppSecret == "" {
		return "", &FixError{Err: fmt.Errorf("%w: LOGTO_M2M_APP_ID or LOGTO_M2M_APP_SECRET is not set", ErrCredentials), Fix: fixCredentials}
	}
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {c.cfg.Resource}, "scope": {"all"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.Endpoint+"/oidc/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.cfg.AppID), url.QueryEscape(c.cfg.AppSecret))
	resp, err := c.http.Do(req)
	if err != nil {
		return "", unreachable(c.cfg.Endpoint, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var oe oauthError
		_ = json.Unmarshal(body, &oe)
		switch {
		case oe.Error == "invalid_client" || resp.StatusCode == http.StatusUnauthorized:
			return "", &FixError{Err: ErrCredentials, Fix: fixCredentials}
		case oe.Error == "invalid_target":
			return "", &FixError{Err: fmt.Errorf("%w %q", ErrResource, c.cfg.Resource), Fix: fixResource}
		case oe.Error == "invalid_scope" || oe.Error == "unauthorized_client":
			return "", &FixError{Err: fmt.Errorf("%w (%s)", ErrForbidden, oe.Error), Fix: fixRole}
		case resp.StatusCode == http.StatusNotFound:
			return "", &FixError{Err: fmt.Errorf("%w: %s/oidc/token answered 404", ErrUnreachable, c.cfg.Endpoint), Fix: "check LOGTO_ENDPOINT: the tenant endpoint, without /oidc"}
		}
		return "", fmt.Errorf("token endpoint answered %d %s", resp.StatusCode, oe.Error)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Scope       string `json:"scope"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: no access token in the answer")
	}
	if !hasWord(tr.Scope, "all") {
		return "", &FixError{Err: fmt.Errorf("%w: its token has no \"all\" scope", ErrForbidden), Fix: fixRole}
	}
	c.token = tr.AccessToken
	c.expires = time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	return c.token, nil
}

// CheckIssuer fetches the discovery document and checks that its issuer is
// <endpoint>/oidc, the issuer the BFF derives from LOGTO_ENDPOINT (it
// rejects every token otherwise).
func (c *Client) CheckIssuer(ctx context.Context) error {
	want := c.cfg.Endpoint + "/oidc"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, want+"/.well-known/openid-configuration", nil)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return unreachable(c.cfg.Endpoint, err)
	}
	defer resp.Body.Close()
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc) != nil {
		return &FixError{Err: fmt.Errorf("%w: %s/.well-known/openid-configuration answered %d", ErrUnreachable, want, resp.StatusCode),
			Fix: "check LOGTO_ENDPOINT: the tenant endpoint, without /oidc"}
	}
	if doc.Issuer != want {
		return &FixError{Err: fmt.Errorf("%w: Logto's issuer is %q, not %q", ErrIssuer, doc.Issuer, want),
			Fix: "set LOGTO_ENDPOINT to the URL Logto knows itself by (its ENDPOINT setting, or the custom domain)"}
	}
	return nil
}

// do calls the Management API: in (when not nil) is sent as JSON, the answer
// is decoded into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	tok, err := c.Token(ctx)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s /api%s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.Endpoint+"/api"+path, body)
	if err != nil {
		return fmt.Errorf("%s /api%s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return unreachable(c.cfg.Endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return unreachable(c.cfg.Endpoint, err)
	}
	if resp.StatusCode >= 400 {
		ae := &APIError{Method: method, Path: path, Status: resp.StatusCode}
		var eb struct{ Code, Message string }
		if json.Unmarshal(data, &eb) == nil {
			ae.Code, ae.Message = eb.Code, eb.Message
		}
		return ae
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s /api%s: decode: %w", method, path, err)
	}
	return nil
}

func unreachable(endpoint string, err error) error {
	// The url.Error names only the URL (no credentials are in it).
	return &FixError{Err: fmt.Errorf("%w at %s: %w", ErrUnreachable, endpoint, err), Fix: "check LOGTO_ENDPOINT and that Logto is running"}
}

func hasWord(list, w string) bool {
	for _, f := range strings.Fields(list) {
		if f == w {
			return true
		}
	}
	return false
}
