package authflow

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readClaims loads a fixture captured from a real Logto 1.37.1 (token
// values redacted, shapes exact).
func readClaims(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := decodeExact(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRenderUserDiscordSample(t *testing.T) {
	raw, err := RenderUser(readClaims(t, "discord_id_claims.json"), readClaims(t, "discord_userinfo.json"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, k := range protocolClaims {
		if strings.Contains(text, `"`+k+`"`) {
			t.Errorf("user contains protocol claim %q: %s", k, text)
		}
	}
	if !strings.Contains(text, `"created_at":1795633869169`) || !strings.Contains(text, `"updated_at":1795634193396`) {
		t.Errorf("epoch milliseconds not kept exactly: %s", text)
	}
	var u struct {
		Sub                 string         `json:"sub"`
		Username            *string        `json:"username"`
		Name                string         `json:"name"`
		EmailVerified       bool           `json:"email_verified"`
		PhoneNumber         *string        `json:"phone_number"`
		PhoneNumberVerified *bool          `json:"phone_number_verified"`
		Roles               []string       `json:"roles"`
		Organizations       []string       `json:"organizations"`
		OrganizationRoles   []string       `json:"organization_roles"`
		CustomData          map[string]any `json:"custom_data"`
		SSOIdentities       []any          `json:"sso_identities"`
		Identities          map[string]struct {
			UserID  string `json:"userId"`
			Details struct {
				Name    string         `json:"name"`
				Avatar  string         `json:"avatar"`
				RawData map[string]any `json:"rawData"`
			} `json:"details"`
		} `json:"identities"`
	}
	if err := json.Unmarshal(raw, &u); err != nil {
		t.Fatal(err)
	}
	d := u.Identities["discord"]
	switch {
	case u.Sub != "w9opkhw0gozt", u.Name != "nelly", u.Username != nil, !u.EmailVerified:
		t.Errorf("profile claims wrong: %s", text)
	case d.UserID != "80351110224678912" || d.Details.RawData["global_name"] != "Nelly" || !strings.HasPrefix(d.Details.Avatar, "https://cdn.discordapp.com/avatars/"):
		t.Errorf("discord identity wrong: %+v", d)
	case u.PhoneNumber != nil || u.PhoneNumberVerified == nil || *u.PhoneNumberVerified:
		t.Errorf("phone defaults wrong: %s", text)
	case u.Roles == nil || u.Organizations == nil || u.OrganizationRoles == nil || u.CustomData == nil || u.SSOIdentities == nil:
		t.Errorf("collections must be present: %s", text)
	}
}

func TestRenderUserPasswordSample(t *testing.T) {
	raw, err := RenderUser(readClaims(t, "password_id_claims.json"), readClaims(t, "password_userinfo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var u map[string]any
	if err := json.Unmarshal(raw, &u); err != nil {
		t.Fatal(err)
	}
	if u["username"] != "bff_test_user" || u["picture"] != nil || u["identities"] == nil {
		t.Errorf("unexpected user %s", raw)
	}
	if _, ok := u["picture"]; !ok {
		t.Errorf("null picture must stay present as null: %s", raw)
	}
	if roles, _ := u["roles"].([]any); len(roles) != 1 || roles[0] != "acceptance-tester" {
		t.Errorf("roles = %v", u["roles"])
	}
}

func TestRenderUserRejectsSubjectMismatch(t *testing.T) {
	_, err := RenderUser(map[string]any{"sub": "a"}, map[string]any{"sub": "b"})
	if !errors.Is(err, ErrInvalidIDToken) {
		t.Fatalf("err = %v, want ErrInvalidIDToken", err)
	}
	if _, err := RenderUser(map[string]any{}, nil); !errors.Is(err, ErrInvalidIDToken) {
		t.Fatalf("missing sub: err = %v", err)
	}
}

func TestRenderUserUserinfoWins(t *testing.T) {
	raw, err := RenderUser(
		map[string]any{"sub": "s", "name": "old", "nonce": "n", "sid": "x", "organizations": []any{"o1"}},
		map[string]any{"sub": "s", "name": "new", "custom_data": map[string]any{"k": "v"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	var u map[string]any
	_ = json.Unmarshal(raw, &u)
	if u["name"] != "new" || u["nonce"] != nil || u["sid"] != nil {
		t.Errorf("merge wrong: %s", raw)
	}
	if orgs, _ := u["organizations"].([]any); len(orgs) != 1 {
		t.Errorf("ID-token-only claims must stay: %s", raw)
	}
	if cd, _ := u["custom_data"].(map[string]any); cd["k"] != "v" {
		t.Errorf("custom_data lost: %s", raw)
	}
}
