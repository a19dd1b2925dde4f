package devidp

import "net/http"

// handleDiscovery serves /.well-known/openid-configuration in the shape a
// real Logto publishes, with every URL derived from the issuer. Only what
// this provider really implements is advertised.
func (p *Provider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	doc := map[string]any{
		"issuer":                                         p.issuer,
		"authorization_endpoint":                         p.endpoint("/auth"),
		"token_endpoint":                                 p.endpoint("/token"),
		"userinfo_endpoint":                              p.endpoint("/me"),
		"jwks_uri":                                       p.endpoint("/jwks"),
		"end_session_endpoint":                           p.endpoint("/session/end"),
		"revocation_endpoint":                            p.endpoint("/token/revocation"),
		"claims_parameter_supported":                     false,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"code_challenge_methods_supported":               []string{"S256"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"response_modes_supported":                       []string{"query"},
		"response_types_supported":                       []string{"code"},
		"scopes_supported":                               oidcScopes,
		"subject_types_supported":                        []string{"public"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post"},
		"id_token_signing_alg_values_supported":          []string{"ES384"},
		"authorization_response_iss_parameter_supported": true,
		"backchannel_logout_supported":                   true,
		"backchannel_logout_session_supported":           true,
		"claim_types_supported":                          []string{"normal"},
		"claims_supported": []string{
			"sub", "name", "picture", "updated_at", "username", "created_at",
			"email", "email_verified", "phone_number", "phone_number_verified",
			"custom_data", "identities", "sso_identities", "roles",
			"organizations", "organization_data", "organization_roles", "sid", "auth_time", "iss",
		},
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, doc)
}
