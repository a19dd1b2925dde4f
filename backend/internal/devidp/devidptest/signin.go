// Package devidptest drives the dev identity provider's pages the way a
// browser would (sign in, sign in with the simulated Discord, sign out), for
// tests and the load harness. It is a test helper: the bff binary never
// links it (nor golang.org/x/net/html, which it parses the pages with).
package devidptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// SignIn drives the real sign-in form the way a browser would: it GETs
// authorizeURL with client (which needs a cookie jar), and if the answer is
// the sign-in page (or the create-account page, from which it follows the
// "Sign in" link) it fills identifier and password and submits the form with
// the same client. It returns the last response the client produced, after
// the client's own redirect policy: typically the callback response, or the
// redirect to it when the client stops at other hosts. A page without the
// form (an error page, or an SSO redirect that needed no form) is returned
// unchanged. A wrong password yields the 401 sign-in page. The caller closes
// the returned body.
func SignIn(ctx context.Context, client *http.Client, authorizeURL, username, password string) (*http.Response, error) {
	if client.Jar == nil {
		return nil, errNoJar
	}
	page, err := openPage(ctx, client, authorizeURL)
	if err != nil {
		return nil, err
	}
	if _, ok := page.form("register"); ok {
		if link, ok := page.link("sign-in-instead"); ok {
			if page, err = openPage(ctx, client, link); err != nil {
				return nil, err
			}
		}
	}
	f, ok := page.form("sign-in")
	if !ok {
		return page.resp, nil
	}
	f.values.Set("identifier", username)
	f.values.Set("password", password)
	return postForm(ctx, client, f)
}

// SignInWithDiscord clicks through "Continue with Discord" and the simulated
// Discord page's "Authorize" button, signing in the Discord-linked user. It
// accepts an authorize URL that shows the sign-in page or, with
// direct_sign_in=social:discord, the Discord page straight away. Otherwise as
// SignIn.
func SignInWithDiscord(ctx context.Context, client *http.Client, authorizeURL string) (*http.Response, error) {
	if client.Jar == nil {
		return nil, errNoJar
	}
	page, err := openPage(ctx, client, authorizeURL)
	if err != nil {
		return nil, err
	}
	if link, ok := page.link("continue-with-discord"); ok {
		if page, err = openPage(ctx, client, link); err != nil {
			return nil, err
		}
	}
	f, ok := page.form("discord-authorize")
	if !ok {
		return page.resp, nil
	}
	return postForm(ctx, client, f)
}

// SignOut opens endSessionURL (the IdP's /oidc/session/end with its
// parameters) with client and presses "Sign out" on the confirmation page.
// It returns the last response (normally the post-logout redirect); a page
// without the confirmation form is returned unchanged.
func SignOut(ctx context.Context, client *http.Client, endSessionURL string) (*http.Response, error) {
	if client.Jar == nil {
		return nil, errNoJar
	}
	page, err := openPage(ctx, client, endSessionURL)
	if err != nil {
		return nil, err
	}
	f, ok := page.form("sign-out")
	if !ok {
		return page.resp, nil
	}
	return postForm(ctx, client, f)
}

// openPage GETs rawURL with client and parses the page it lands on.
func openPage(ctx context.Context, client *http.Client, rawURL string) (*parsedPage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("devidptest: build request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("devidptest: get page: %w", err)
	}
	return readPage(resp)
}

// errNoJar: the pages are bound to the browser by cookies.
var errNoJar = errors.New("devidptest: the http.Client needs a cookie jar to drive the sign-in pages")

type htmlForm struct {
	action *url.URL
	values url.Values
}

func postForm(ctx context.Context, client *http.Client, f htmlForm) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.action.String(), strings.NewReader(f.values.Encode()))
	if err != nil {
		return nil, fmt.Errorf("devidptest: build form post: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("devidptest: submit form: %w", err)
	}
	return resp, nil
}

// parsedPage is a response whose HTML body was read (and replaced by an
// in-memory copy, so the response can still be returned to the caller).
type parsedPage struct {
	resp *http.Response
	doc  *html.Node
}

func readPage(resp *http.Response) (*parsedPage, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("devidptest: read page: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	p := &parsedPage{resp: resp}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if p.doc, err = html.Parse(bytes.NewReader(body)); err != nil {
			return nil, fmt.Errorf("devidptest: parse page: %w", err)
		}
	}
	return p, nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func (p *parsedPage) find(tag, id string) *html.Node {
	if p.doc == nil {
		return nil
	}
	var found *html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if found != nil {
			return
		}
		if n.Type == html.ElementNode && n.Data == tag && attr(n, "id") == id {
			found = n
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(p.doc)
	return found
}

func (p *parsedPage) resolve(ref string) (*url.URL, bool) {
	u, err := p.resp.Request.URL.Parse(ref)
	return u, err == nil
}

// form returns the action and the current input values of the form with id.
func (p *parsedPage) form(id string) (htmlForm, bool) {
	n := p.find("form", id)
	if n == nil {
		return htmlForm{}, false
	}
	action, ok := p.resolve(attr(n, "action"))
	if !ok {
		return htmlForm{}, false
	}
	f := htmlForm{action: action, values: url.Values{}}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			f.values.Set(attr(n, "name"), attr(n, "value"))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return f, true
}

// link returns the absolute href of the anchor with id.
func (p *parsedPage) link(id string) (string, bool) {
	n := p.find("a", id)
	if n == nil {
		return "", false
	}
	u, ok := p.resolve(attr(n, "href"))
	if !ok {
		return "", false
	}
	return u.String(), true
}
