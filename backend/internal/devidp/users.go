package devidp

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// User is a Logto user. Empty strings are published as JSON null, like Logto
// does for missing values.
type User struct {
	ID                          string // Logto's user id (the `sub`); empty → random 12 characters
	Username                    string // empty → null (a Discord-only user has no username)
	Password                    string // empty → cannot sign in with a password
	Name, Email, Phone, Picture string
	EmailVerified               bool
	PhoneVerified               bool
	Roles                       []string
	Organizations               []OrgMembership
	CustomData                  map[string]any
	// Identities are social identities keyed by connector target, e.g.
	// "discord". A user with a "discord" identity signs in through
	// "Continue with Discord".
	Identities           map[string]Identity
	CreatedAt, UpdatedAt time.Time
}

// Identity is a linked social identity as Logto returns it in userinfo:
// {"userId": ..., "details": {...}}.
type Identity struct {
	UserID  string
	Details map[string]any
}

// OrgMembership says a user is a member of an organization, with its
// organization roles.
type OrgMembership struct {
	OrganizationID string
	Roles          []string
}

// Resource is an API resource: JWT access tokens for it carry aud = Indicator
// and the requested scopes that are among Scopes.
type Resource struct {
	Indicator string
	Scopes    []string
}

// Organization is a Logto organization. RoleScopes maps an organization role
// to the organization permissions (scopes) it grants in organization tokens.
type Organization struct {
	ID, Name, Description string
	RoleScopes            map[string][]string
}

// Seeded credentials of DefaultUsers, for tests and `bff dev`.
const (
	AliceID       = "alice0000001"
	AliceUsername = "alice"
	AlicePassword = "alice-password"
	NellyID       = "w9opkhw0gozt"
	// DiscordUserID is nelly's Discord account id.
	DiscordUserID = "80351110224678912"
	// DefaultResourceIndicator is the API resource of DefaultResources.
	DefaultResourceIndicator = "https://api.example.test"
	// DefaultOrganizationID is the organization of DefaultOrganizations.
	DefaultOrganizationID = "org_acme"
	// OrganizationsResource is the resource indicator that must be requested
	// at sign-in to later get organization tokens.
	OrganizationsResource = "urn:logto:resource:organizations"
)

const nellyAvatar = "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe"

// DefaultUsers returns fresh copies of the seeded users: alice (password
// "alice-password", name "Alice Example", verified email, role admin, member
// of org_acme as editor) and nelly (Discord only, no username or password,
// identity shaped exactly like the one a real Logto returned).
func DefaultUsers() []User {
	return []User{
		{
			ID: AliceID, Username: AliceUsername, Password: AlicePassword,
			Name: "Alice Example", Email: "alice@example.test", EmailVerified: true,
			Roles:         []string{"admin"},
			Organizations: []OrgMembership{{OrganizationID: DefaultOrganizationID, Roles: []string{"editor"}}},
			CustomData:    map[string]any{},
			CreatedAt:     time.UnixMilli(1795632365819), UpdatedAt: time.UnixMilli(1795634181455),
		},
		{
			ID: NellyID, Name: "nelly", Picture: nellyAvatar,
			Email: "nelly@discord.com", EmailVerified: true,
			Roles:      []string{},
			CustomData: map[string]any{},
			Identities: map[string]Identity{"discord": {
				UserID: DiscordUserID,
				Details: map[string]any{
					"id": DiscordUserID, "name": "nelly", "email": "nelly@discord.com", "avatar": nellyAvatar,
					"rawData": map[string]any{
						"id": DiscordUserID, "clan": nil, "email": "nelly@discord.com", "flags": 64,
						"avatar": "8342729096ea3675442027381ff50dfe", "banner": nil, "locale": "en-US",
						"username": "nelly", "verified": true, "global_name": "Nelly", "mfa_enabled": false,
						"accent_color": nil, "banner_color": nil, "collectibles": nil, "premium_type": 0,
						"public_flags": 64, "discriminator": "0", "primary_guild": nil,
						"display_name_styles": nil, "avatar_decoration_data": nil,
					},
				},
			}},
			CreatedAt: time.UnixMilli(1795633869169), UpdatedAt: time.UnixMilli(1795634193396),
		},
	}
}

// DefaultResources returns the seeded API resource https://api.example.test
// with scope read:demo.
func DefaultResources() []Resource {
	return []Resource{{Indicator: DefaultResourceIndicator, Scopes: []string{"read:demo"}}}
}

// DefaultOrganizations returns the seeded organization org_acme "Acme", whose
// role editor grants read:docs and write:docs and role viewer read:docs.
func DefaultOrganizations() []Organization {
	return []Organization{{
		ID: DefaultOrganizationID, Name: "Acme", Description: "Seeded development organization",
		RoleScopes: map[string][]string{"editor": {"read:docs", "write:docs"}, "viewer": {"read:docs"}},
	}}
}

// usernamePattern is Logto's username rule.
var usernamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (p *Provider) seedUsers(users []User) error {
	var problems []string
	for i := range users {
		u := cloneUser(users[i])
		if u.ID == "" {
			u.ID = randomID(12)
		}
		if p.findUserLocked(func(x *User) bool { return x.ID == u.ID }) != nil {
			problems = append(problems, fmt.Sprintf("user id %q seeded twice", u.ID))
		}
		if u.Username != "" && p.userByUsernameLocked(u.Username) != nil {
			problems = append(problems, fmt.Sprintf("username %q seeded twice", u.Username))
		}
		if u.CreatedAt.IsZero() {
			u.CreatedAt = p.now()
		}
		if u.UpdatedAt.IsZero() {
			u.UpdatedAt = u.CreatedAt
		}
		p.users = append(p.users, u)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func cloneUser(u User) *User {
	c := u
	c.Roles = slices.Clone(u.Roles)
	c.Organizations = nil
	for _, m := range u.Organizations {
		c.Organizations = append(c.Organizations, OrgMembership{OrganizationID: m.OrganizationID, Roles: slices.Clone(m.Roles)})
	}
	c.CustomData = maps.Clone(u.CustomData)
	c.Identities = maps.Clone(u.Identities)
	return &c
}

func (p *Provider) findUserLocked(match func(*User) bool) *User {
	for _, u := range p.users {
		if match(u) {
			return u
		}
	}
	return nil
}

func (p *Provider) userByIDLocked(id string) *User {
	return p.findUserLocked(func(u *User) bool { return u.ID == id })
}

func (p *Provider) userByUsernameLocked(username string) *User {
	return p.findUserLocked(func(u *User) bool { return u.Username != "" && u.Username == username })
}

// checkPasswordLocked finds the user whose username (exact) or email
// (case-insensitive) is identifier and whose password matches.
func (p *Provider) checkPasswordLocked(identifier, password string) *User {
	u := p.findUserLocked(func(u *User) bool {
		return (u.Username != "" && u.Username == identifier) ||
			(u.Email != "" && strings.EqualFold(u.Email, identifier))
	})
	if u == nil || u.Password == "" || password == "" ||
		subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) != 1 {
		return nil
	}
	return u
}

// discordUserLocked returns the first user with a Discord identity.
func (p *Provider) discordUserLocked() *User {
	return p.findUserLocked(func(u *User) bool { _, ok := u.Identities["discord"]; return ok })
}

// Describe returns a human-readable summary for `bff dev` to print: the
// issuer and every seeded user with how to sign in (passwords included — they
// are development fixtures).
func (p *Provider) Describe() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "Development identity provider — not for production\n")
	fmt.Fprintf(&b, "  issuer: %s\n", p.issuer)
	fmt.Fprintf(&b, "  users:\n")
	for _, u := range p.users {
		how := "no sign-in method"
		switch {
		case u.Password != "" && u.Username != "":
			how = fmt.Sprintf("username %q, password %q", u.Username, u.Password)
		case u.Password != "" && u.Email != "":
			how = fmt.Sprintf("email %q, password %q", u.Email, u.Password)
		case u.Identities["discord"].UserID != "":
			how = `"Continue with Discord" (simulated)`
		}
		var extra []string
		if u.Name != "" {
			extra = append(extra, u.Name)
		}
		if len(u.Roles) > 0 {
			extra = append(extra, "roles "+strings.Join(u.Roles, ","))
		}
		for _, m := range u.Organizations {
			extra = append(extra, fmt.Sprintf("org %s (%s)", m.OrganizationID, strings.Join(m.Roles, ",")))
		}
		fmt.Fprintf(&b, "    - %s: %s", u.ID, how)
		if len(extra) > 0 {
			fmt.Fprintf(&b, " [%s]", strings.Join(extra, "; "))
		}
		b.WriteString("\n")
	}
	return b.String()
}
