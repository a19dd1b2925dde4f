package authflow

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
)

func TestRevokeEndsTheGrant(t *testing.T) {
	f := newFixture(t, nil)
	attempt, q := f.signIn(t, SignInParams{ReturnTo: "/"}, false)
	res, err := f.client.Exchange(context.Background(), q.Get("code"), attempt)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.client.Revoke(context.Background(), res.Tokens.RefreshToken); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if st := f.idp.Stats(); st.Revocations != 1 {
		t.Errorf("Revocations = %d", st.Revocations)
	}
	ts := f.client.oauth.TokenSource(f.client.ctx(context.Background()), &oauth2.Token{RefreshToken: res.Tokens.RefreshToken})
	_, err = ts.Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("refresh after revoke: %v, want invalid_grant", err)
	}
	if _, err := f.client.UserInfo(context.Background(), res.Tokens.AccessToken); !errors.Is(err, ErrRejected) {
		t.Errorf("userinfo after revoke: %v, want ErrRejected", err)
	}
	if err := f.client.Revoke(context.Background(), ""); err != nil {
		t.Errorf("empty token: %v", err)
	}
}

func TestRevokeWithWrongSecretIsRejected(t *testing.T) {
	f := newFixture(t, nil)
	attempt, q := f.signIn(t, SignInParams{ReturnTo: "/"}, false)
	res, err := f.client.Exchange(context.Background(), q.Get("code"), attempt)
	if err != nil {
		t.Fatal(err)
	}
	bad := *f.client
	bad.cfg.ClientSecret = "wrong"
	if err := bad.Revoke(context.Background(), res.Tokens.RefreshToken); !errors.Is(err, ErrRejected) {
		t.Fatalf("err = %v, want ErrRejected", err)
	}
}

func TestEndSessionURL(t *testing.T) {
	f := newFixture(t, nil)
	attempt, q := f.signIn(t, SignInParams{ReturnTo: "/"}, false)
	res, err := f.client.Exchange(context.Background(), q.Get("code"), attempt)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := url.Parse(f.client.EndSessionURL(res.Tokens.IDToken))
	eq := end.Query()
	if end.Path != "/oidc/session/end" || eq.Get("client_id") != testClientID || eq.Get("post_logout_redirect_uri") != testPostLogout || eq.Get("id_token_hint") != res.Tokens.IDToken {
		t.Fatalf("end session URL = %s", end.Redacted())
	}
	if noHint, _ := url.Parse(f.client.EndSessionURL("")); noHint.Query().Has("id_token_hint") {
		t.Error("empty hint sent")
	}
	// The IdP accepts it and returns the browser to the post sign-out URI.
	resp, err := devidptest.SignOut(context.Background(), f.browser(t), end.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, _ := resp.Location(); loc == nil || loc.String() != testPostLogout {
		t.Errorf("after end session: %d %v", resp.StatusCode, loc)
	}
}
