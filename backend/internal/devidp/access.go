package devidp

import (
	"net/http"
	"slices"
	"time"
)

var (
	errNotMember = &oauthError{http.StatusBadRequest, "access_denied", "Access denied.", "user is not a member of the organization"}
	errOrgScope  = &oauthError{http.StatusForbidden, "insufficient_scope", "Insufficient scope for access token.", "refresh token missing required scope"}
	errBadScope  = &oauthError{http.StatusBadRequest, "invalid_scope", "Invalid scope.", "refresh token missing requested scope"}

	errSingleResource = &oauthError{http.StatusBadRequest, "invalid_target", "Invalid resource indicator.", "only a single resource indicator value is supported"}
)

// organizationAudience is the aud of an organization token.
func organizationAudience(orgID string) string { return "urn:logto:organization:" + orgID }

// audienceLocked decides what a new access token is for. An empty aud means
// the opaque token for /oidc/me; otherwise aud is the resource indicator
// (which must have been requested at sign-in) or the organization audience
// (which needs the organizations scope and resource at sign-in, and
// membership), and scopes are the requested permissions the resource or the
// user's organization roles grant. requested narrows the grant's scopes.
// Caller holds mu.
func (p *Provider) audienceLocked(g *grant, u *User, resource, orgID string, requested []string) (aud string, scopes []string, oerr *oauthError) {
	for _, s := range requested {
		if !slices.Contains(g.scopes, s) && !slices.Contains(g.apiScopes, s) {
			return "", nil, errBadScope
		}
	}
	wanted := g.apiScopes
	if len(requested) > 0 {
		wanted = requested
	}
	switch {
	case resource != "":
		res, known := p.resources[resource]
		if !known || !slices.Contains(g.resources, resource) {
			return "", nil, errInvalidTgt
		}
		return resource, intersect(wanted, res.Scopes), nil
	case orgID != "":
		if !g.has(scopeOrganizations) {
			return "", nil, errOrgScope
		}
		if !slices.Contains(g.resources, OrganizationsResource) {
			return "", nil, errInvalidTgt
		}
		orgScopes, member := p.orgScopes(u, orgID)
		if !member {
			return "", nil, errNotMember
		}
		return organizationAudience(orgID), intersect(wanted, orgScopes), nil
	}
	return "", nil, nil
}

// jwtAccessClaims are the claims of a JWT access token, exactly the set a
// real Logto sends: jti, sub, iat, exp, scope, client_id, iss, aud.
func (p *Provider) jwtAccessClaims(sub, clientID, aud, scope string, now time.Time) map[string]any {
	return map[string]any{
		"jti": randomToken(16)[:21], "sub": sub, "iat": now.Unix(), "exp": now.Add(p.accessTTL).Unix(),
		"scope": scope, "client_id": clientID, "iss": p.issuer, "aud": aud,
	}
}

// intersect returns the elements of a that are in b, in a's order.
func intersect(a, b []string) []string {
	out := []string{}
	for _, s := range a {
		if slices.Contains(b, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
