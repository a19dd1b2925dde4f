// Package contracttest checks real HTTP traffic against api/openapi.yaml.
//
// Integration tests send their requests through Transport, so every request
// they make to the BFF and every response it gives is validated against the
// spec: a handler that drifts from the contract fails the test that
// exercised it. Traffic to other hosts (the identity provider, upstream
// APIs) passes through unchecked.
package contracttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Spec is the parsed, validated contract with a router over its paths.
type Spec struct {
	Doc    *openapi3.T
	router routers.Router
}

var (
	loadOnce sync.Once
	loaded   *Spec
	loadErr  error
)

// SpecPath returns the path of api/openapi.yaml in this repository.
func SpecPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "api", "openapi.yaml")
}

// Load parses and validates api/openapi.yaml once per process.
func Load() (*Spec, error) {
	loadOnce.Do(func() {
		openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
		loader := openapi3.NewLoader()
		data, err := os.ReadFile(SpecPath())
		if err != nil {
			loadErr = err
			return
		}
		doc, err := loader.LoadFromData(data)
		if err != nil {
			loadErr = fmt.Errorf("parse spec: %w", err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			loadErr = fmt.Errorf("invalid spec: %w", err)
			return
		}
		// Match any host: tests run on loopback ports, not the documented server.
		doc.Servers = nil
		router, err := legacy.NewRouter(doc)
		if err != nil {
			loadErr = fmt.Errorf("router: %w", err)
			return
		}
		loaded = &Spec{Doc: doc, router: router}
	})
	return loaded, loadErr
}

// ErrUndocumented is returned by Check for a request the spec has no route for.
var ErrUndocumented = errors.New("request is not documented in api/openapi.yaml")

// Check validates one request and the response it got. body is the
// response body (the response's own Body is not read).
func (s *Spec) Check(req *http.Request, reqBody []byte, resp *http.Response, body []byte) error {
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := s.router.FindRoute(r)
	if err != nil {
		if isProxy(r.URL.Path) {
			route, params, err = s.proxyRoute(r)
		}
		if err != nil {
			return fmt.Errorf("%w: %s %s", ErrUndocumented, req.Method, req.URL.Path)
		}
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			MultiError:         true,
		},
	}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil && !isProxyBodyOnly(r, err) {
		// Tests send invalid requests on purpose; the BFF must refuse them
		// with a documented 4xx. Accepting one is a contract violation.
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			return fmt.Errorf("request %s %s violates the spec but got %d: %w", req.Method, req.URL.Path, resp.StatusCode, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if isProxy(r.URL.Path) {
		// Upstream answers pass through with the upstream's own shapes (a 404
		// or 401 may be the upstream's too), so only the status is checked.
		out.Options.ExcludeResponseBody = true
	}
	if err := openapi3filter.ValidateResponse(r.Context(), out); err != nil {
		return fmt.Errorf("response %d to %s %s: %w", resp.StatusCode, req.Method, req.URL.Path, err)
	}
	return nil
}

func isProxy(p string) bool { return strings.HasPrefix(p, "/api/proxy/") }

// proxyRoute maps /api/proxy/{route}/{path...} onto the spec's single-segment
// template, since the rest of the path may contain slashes.
func (s *Spec) proxyRoute(r *http.Request) (*routers.Route, map[string]string, error) {
	rest := strings.TrimPrefix(r.URL.Path, "/api/proxy/")
	name, path, ok := strings.Cut(rest, "/")
	if !ok || name == "" {
		return nil, nil, ErrUndocumented
	}
	probe := r.Clone(r.Context())
	probe.URL.Path = "/api/proxy/" + name + "/x"
	probe.URL.RawPath = ""
	route, params, err := s.router.FindRoute(probe)
	if err != nil {
		return nil, nil, err
	}
	params["path"] = path
	return route, params, nil
}

// isProxyBodyOnly reports whether a request validation failure is only about
// a proxied request's body, which belongs to the upstream's contract.
func isProxyBodyOnly(r *http.Request, err error) bool {
	if !isProxy(r.URL.Path) {
		return false
	}
	var me openapi3.MultiError
	if !errors.As(err, &me) {
		return false
	}
	for _, e := range me {
		var re *openapi3filter.RequestError
		if !errors.As(e, &re) || re.RequestBody == nil {
			return false
		}
	}
	return true
}

// Transport returns a RoundTripper that validates every exchange with host
// (host:port of the BFF under test) against the spec and reports mismatches
// with t.Errorf. Other hosts pass through unchecked.
func Transport(t testing.TB, host string, base http.RoundTripper) http.RoundTripper {
	t.Helper()
	spec, err := Load()
	if err != nil {
		t.Fatalf("contract: %v", err)
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return &checker{t: t, host: host, spec: spec, base: base}
}

type checker struct {
	t    testing.TB
	host string
	spec *Spec
	base http.RoundTripper
}

func (c *checker) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != c.host {
		return c.base.RoundTrip(req)
	}
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := c.spec.Check(req, reqBody, resp, body); err != nil {
		c.t.Errorf("contract: %v", err)
	}
	return resp, nil
}
