package logtoadmin

import (
	"context"
	"net/url"
)

// AppTypeTraditional is Logto's "Traditional web" application type: a
// confidential client with the authorization code and refresh token grants.
const AppTypeTraditional = "Traditional"

// OIDCClientMetadata is the part of an application's oidcClientMetadata the
// BFF depends on.
type OIDCClientMetadata struct {
	RedirectURIs                     []string `json:"redirectUris"`
	PostLogoutRedirectURIs           []string `json:"postLogoutRedirectUris"`
	BackchannelLogoutURI             string   `json:"backchannelLogoutUri,omitempty"`
	BackchannelLogoutSessionRequired bool     `json:"backchannelLogoutSessionRequired"`
}

// Application is a Logto application.
type Application struct {
	ID                 string             `json:"id"`
	Name               string             `json:"name"`
	Type               string             `json:"type"`
	Description        string             `json:"description,omitempty"`
	OIDCClientMetadata OIDCClientMetadata `json:"oidcClientMetadata"`
}

// AppSecret is one of an application's client secrets.
type AppSecret struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// ExpiresAt is epoch milliseconds, or nil for a secret that never
	// expires.
	ExpiresAt *int64 `json:"expiresAt"`
}

// Resource is an API resource.
type Resource struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Indicator      string `json:"indicator"`
	AccessTokenTTL int    `json:"accessTokenTtl,omitempty"`
}

// Scope is a permission of an API resource.
type Scope struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Connector is a configured connector.
type Connector struct {
	ID          string         `json:"id"`
	ConnectorID string         `json:"connectorId"`
	Config      map[string]any `json:"config"`
	Metadata    struct {
		Target string `json:"target"`
	} `json:"metadata"`
}

// ConnectorFactory is a connector Logto can create.
type ConnectorFactory struct {
	ID string `json:"id"`
}

// SignInExperience is the part of the sign-in experience setup and doctor
// read.
type SignInExperience struct {
	SocialSignInConnectorTargets []string `json:"socialSignInConnectorTargets"`
	SocialSignIn                 struct {
		SkipRequiredIdentifiers bool `json:"skipRequiredIdentifiers"`
	} `json:"socialSignIn"`
	SignUp struct {
		Identifiers []string `json:"identifiers"`
	} `json:"signUp"`
}

// Applications lists every application.
func (c *Client) Applications(ctx context.Context) ([]Application, error) {
	var out []Application
	return out, c.do(ctx, "GET", "/applications", nil, &out)
}

// Application returns one application (ErrNotFound when it does not exist).
func (c *Client) Application(ctx context.Context, id string) (Application, error) {
	var out Application
	return out, c.do(ctx, "GET", "/applications/"+url.PathEscape(id), nil, &out)
}

// CreateApplication creates app and returns it as Logto stored it.
func (c *Client) CreateApplication(ctx context.Context, app Application) (Application, error) {
	var out Application
	return out, c.do(ctx, "POST", "/applications", app, &out)
}

// SetOIDCClientMetadata replaces the application's redirect, post sign-out
// and back-channel settings.
func (c *Client) SetOIDCClientMetadata(ctx context.Context, id string, md OIDCClientMetadata) error {
	return c.do(ctx, "PATCH", "/applications/"+url.PathEscape(id), map[string]any{"oidcClientMetadata": md}, nil)
}

// AppSecrets lists the application's client secrets (values included).
func (c *Client) AppSecrets(ctx context.Context, id string) ([]AppSecret, error) {
	var out []AppSecret
	return out, c.do(ctx, "GET", "/applications/"+url.PathEscape(id)+"/secrets", nil, &out)
}

// CreateAppSecret adds a client secret that never expires.
func (c *Client) CreateAppSecret(ctx context.Context, id, name string) (AppSecret, error) {
	var out AppSecret
	return out, c.do(ctx, "POST", "/applications/"+url.PathEscape(id)+"/secrets", map[string]any{"name": name}, &out)
}

// Resources lists every API resource.
func (c *Client) Resources(ctx context.Context) ([]Resource, error) {
	var out []Resource
	return out, c.do(ctx, "GET", "/resources", nil, &out)
}

// CreateResource creates an API resource.
func (c *Client) CreateResource(ctx context.Context, r Resource) (Resource, error) {
	var out Resource
	return out, c.do(ctx, "POST", "/resources", r, &out)
}

// Scopes lists a resource's scopes.
func (c *Client) Scopes(ctx context.Context, resourceID string) ([]Scope, error) {
	var out []Scope
	return out, c.do(ctx, "GET", "/resources/"+url.PathEscape(resourceID)+"/scopes", nil, &out)
}

// CreateScope adds a scope to a resource.
func (c *Client) CreateScope(ctx context.Context, resourceID, name string) (Scope, error) {
	var out Scope
	return out, c.do(ctx, "POST", "/resources/"+url.PathEscape(resourceID)+"/scopes", map[string]any{"name": name, "description": name}, &out)
}

// Connectors lists the configured connectors.
func (c *Client) Connectors(ctx context.Context) ([]Connector, error) {
	var out []Connector
	return out, c.do(ctx, "GET", "/connectors", nil, &out)
}

// ConnectorFactories lists the connectors Logto can create.
func (c *Client) ConnectorFactories(ctx context.Context) ([]ConnectorFactory, error) {
	var out []ConnectorFactory
	return out, c.do(ctx, "GET", "/connector-factories", nil, &out)
}

// CreateConnector creates a connector from factory with config.
func (c *Client) CreateConnector(ctx context.Context, factory string, config map[string]any) (Connector, error) {
	var out Connector
	return out, c.do(ctx, "POST", "/connectors", map[string]any{"connectorId": factory, "config": config}, &out)
}

// SetConnectorConfig replaces a connector's config.
func (c *Client) SetConnectorConfig(ctx context.Context, id string, config map[string]any) error {
	return c.do(ctx, "PATCH", "/connectors/"+url.PathEscape(id), map[string]any{"config": config}, nil)
}

// SignInExperience reads the sign-in experience.
func (c *Client) SignInExperience(ctx context.Context) (SignInExperience, error) {
	var out SignInExperience
	return out, c.do(ctx, "GET", "/sign-in-exp", nil, &out)
}

// rawSignInExperience reads the sign-in experience as JSON objects, so a
// patch can keep the fields this package does not model.
func (c *Client) rawSignInExperience(ctx context.Context) (map[string]any, error) {
	var out map[string]any
	return out, c.do(ctx, "GET", "/sign-in-exp", nil, &out)
}

// PatchSignInExperience applies a partial update to the sign-in experience.
func (c *Client) PatchSignInExperience(ctx context.Context, patch map[string]any) error {
	return c.do(ctx, "PATCH", "/sign-in-exp", patch, nil)
}
