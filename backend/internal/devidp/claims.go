package devidp

import (
	"slices"
	"strings"
)

// Logto's OIDC scopes (anything else in `scope` is an API resource scope).
const (
	scopeOpenID            = "openid"
	scopeOfflineAccess     = "offline_access"
	scopeProfile           = "profile"
	scopeEmail             = "email"
	scopePhone             = "phone"
	scopeCustomData        = "custom_data"
	scopeIdentities        = "identities"
	scopeRoles             = "roles"
	scopeOrganizations     = "urn:logto:scope:organizations"
	scopeOrganizationRoles = "urn:logto:scope:organization_roles"
)

var oidcScopes = []string{
	scopeOpenID, scopeOfflineAccess, scopeProfile, scopeEmail, scopePhone, "address",
	scopeCustomData, scopeIdentities, scopeRoles, scopeOrganizations, scopeOrganizationRoles,
	"urn:logto:scope:sessions",
}

func isOIDCScope(s string) bool { return slices.Contains(oidcScopes, s) }

// splitScope splits a space-separated scope string, dropping duplicates.
func splitScope(s string) []string {
	var out []string
	for _, f := range strings.Fields(s) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// nullable maps "" to JSON null, as Logto does for missing values.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// userClaims returns the claims for the given scopes. forUserinfo adds the
// claims Logto only puts in userinfo (custom_data, identities,
// sso_identities, organization_data).
func (p *Provider) userClaims(u *User, scopes []string, forUserinfo bool) map[string]any {
	c := map[string]any{"sub": u.ID}
	has := func(s string) bool { return slices.Contains(scopes, s) }
	if has(scopeProfile) {
		c["name"] = nullable(u.Name)
		c["picture"] = nullable(u.Picture)
		c["username"] = nullable(u.Username)
		c["created_at"] = u.CreatedAt.UnixMilli()
		c["updated_at"] = u.UpdatedAt.UnixMilli()
	}
	if has(scopeEmail) {
		c["email"] = nullable(u.Email)
		c["email_verified"] = u.Email != "" && u.EmailVerified
	}
	if has(scopePhone) {
		c["phone_number"] = nullable(u.Phone)
		c["phone_number_verified"] = u.Phone != "" && u.PhoneVerified
	}
	if has(scopeRoles) {
		c["roles"] = nonNil(u.Roles)
	}
	if has(scopeOrganizations) {
		ids := []string{}
		data := []map[string]any{}
		for _, m := range u.Organizations {
			ids = append(ids, m.OrganizationID)
			o := p.orgs[m.OrganizationID]
			data = append(data, map[string]any{"id": m.OrganizationID, "name": nullable(o.Name), "description": nullable(o.Description)})
		}
		c["organizations"] = ids
		if forUserinfo {
			c["organization_data"] = data
		}
	}
	if has(scopeOrganizationRoles) {
		roles := []string{}
		for _, m := range u.Organizations {
			for _, r := range m.Roles {
				roles = append(roles, m.OrganizationID+":"+r)
			}
		}
		c["organization_roles"] = roles
	}
	if forUserinfo && has(scopeCustomData) {
		cd := map[string]any{}
		for k, v := range u.CustomData {
			cd[k] = v
		}
		c["custom_data"] = cd
	}
	if forUserinfo && has(scopeIdentities) {
		ids := map[string]any{}
		for target, id := range u.Identities {
			details := id.Details
			if details == nil {
				details = map[string]any{}
			}
			ids[target] = map[string]any{"userId": id.UserID, "details": details}
		}
		c["identities"] = ids
		c["sso_identities"] = []any{}
	}
	return c
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// orgScopes returns the organization permissions a user's roles grant in org.
func (p *Provider) orgScopes(u *User, orgID string) (scopes []string, member bool) {
	o := p.orgs[orgID]
	for _, m := range u.Organizations {
		if m.OrganizationID != orgID {
			continue
		}
		member = true
		for _, r := range m.Roles {
			for _, s := range o.RoleScopes[r] {
				if !slices.Contains(scopes, s) {
					scopes = append(scopes, s)
				}
			}
		}
	}
	return scopes, member
}
