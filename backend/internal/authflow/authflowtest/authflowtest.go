// Package authflowtest is a test helper: it signs a user in through a real
// authorization code flow against a dev identity provider (package devidp)
// and returns what authflow.Client.Exchange made of it, so that tests of
// the layers above authflow (refresh, revocation) start from genuine
// tokens without an HTTP server of their own. Test code only.
package authflowtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"time"

	"github.com/logto-bff/bff/backend/internal/authflow"
	"github.com/logto-bff/bff/backend/internal/devidp/devidptest"
)

// SignIn signs username in at client's identity provider (a devidp):
// authorization request, the provider's sign-in form, then the code
// exchange. The browser part stops at the first redirect that leaves the
// provider (the callback, which is never requested).
func SignIn(ctx context.Context, client *authflow.Client, username, password string) (*authflow.Result, error) {
	p := authflow.SignInParams{ReturnTo: "/"}
	attempt, err := client.NewAttempt(p)
	if err != nil {
		return nil, err
	}
	attempt.State = rand.Text()
	authURL, err := client.AuthCodeURL(p, attempt)
	if err != nil {
		return nil, err
	}
	issuer, err := url.Parse(client.Issuer())
	if err != nil {
		return nil, err
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != issuer.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := devidptest.SignIn(ctx, browser, authURL, username, password)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("authflowtest: sign-in ended at %d without a redirect", resp.StatusCode)
	}
	q := loc.Query()
	if q.Get("state") != attempt.State || q.Get("code") == "" {
		return nil, errors.New("authflowtest: the callback carries no code for this attempt")
	}
	return client.Exchange(ctx, q.Get("code"), attempt)
}
