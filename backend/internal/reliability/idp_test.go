package reliability

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/devidp"
)

// idpServer serves a devidp.Provider on a fixed loopback address that can
// be taken down (connections refused) and brought back on the same port,
// can answer slowly, and counts the connections it holds open.
type idpServer struct {
	t        *testing.T
	addr     string // 127.0.0.1:port, stable across Down/Up
	provider *devidp.Provider
	logPath  string
	logFile  *os.File

	// delay, when set, slows the requests it matches (see setDelay).
	delay atomic.Pointer[delaySpec]
	// blind makes delayed requests ignore the client leaving: they are
	// processed after the delay even if nobody waits for the answer any
	// more (an IdP, or a proxy before it, that keeps working).
	blind atomic.Bool
	// beforeRefresh, when set, runs before a refresh_token grant is
	// served (then it is cleared: it runs once).
	beforeRefresh atomic.Pointer[func()]

	mu    sync.Mutex
	srv   *http.Server
	conns map[net.Conn]http.ConnState
	// served counts requests per path, for tests that check what the
	// BFF asked for.
	served map[string]int
}

// idpOptions configure startIdP.
type idpOptions struct {
	accessTokenTTL time.Duration
	users          []devidp.User
	lenient        bool // Logto's refresh rule instead of strict rotation
	// backchannel delivers logout tokens (nil: no back-channel URI).
	backchannel http.RoundTripper
}

const (
	clientID    = "reliability-bff"
	publicHost  = "bff.test"
	publicURL   = "http://" + publicHost
	callbackURL = publicURL + "/auth/callback"
)

// startIdP starts the identity provider with one confidential client whose
// redirect, post sign-out and back-channel URIs are on publicURL. Its log
// goes to a file scanned for secrets by the cluster.
func startIdP(t *testing.T, dir, clientSecret string, o idpOptions) *idpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &idpServer{t: t, addr: ln.Addr().String(), conns: map[net.Conn]http.ConnState{}, served: map[string]int{}}
	s.logPath = filepath.Join(dir, "idp.log")
	if s.logFile, err = os.Create(s.logPath); err != nil {
		t.Fatal(err)
	}
	var hc *http.Client
	if o.backchannel != nil {
		hc = &http.Client{Transport: o.backchannel, Timeout: 5 * time.Second}
	}
	s.provider, err = devidp.New(devidp.Config{
		Issuer: s.issuer(),
		Clients: []devidp.Client{{
			ID: clientID, Secret: clientSecret, Name: "reliability",
			RedirectURIs:                     []string{callbackURL},
			PostLogoutRedirectURIs:           []string{publicURL + "/"},
			BackchannelLogoutURI:             publicURL + "/auth/backchannel-logout",
			BackchannelLogoutSessionRequired: true,
		}},
		Users:          o.users,
		AccessTokenTTL: o.accessTokenTTL,
		LenientRefresh: o.lenient,
		Logger:         slog.New(slog.NewJSONHandler(s.logFile, &slog.HandlerOptions{Level: slog.LevelDebug})),
		HTTPClient:     hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.serve(ln)
	t.Cleanup(func() {
		s.Down()
		_ = s.logFile.Close()
	})
	return s
}

// endpoint is LOGTO_ENDPOINT for the BFF.
func (s *idpServer) endpoint() string { return "http://" + s.addr }

func (s *idpServer) issuer() string { return s.endpoint() + "/oidc" }

func (s *idpServer) serve(ln net.Listener) {
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.handle),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.NewJSONHandler(s.logFile, nil), slog.LevelWarn),
		ConnState:         s.trackConn,
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// handle delays (honouring the client going away) and then serves. The
// body is read before waiting: only then does net/http watch the
// connection and cancel the request's context when the client leaves, so a
// request the BFF abandoned is never processed later.
func (s *idpServer) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.served[r.URL.Path]++
	s.mu.Unlock()
	if hook := s.beforeRefresh.Load(); hook != nil && strings.HasSuffix(r.URL.Path, "/token") {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		if q, _ := url.ParseQuery(string(body)); q.Get("grant_type") == "refresh_token" && s.beforeRefresh.CompareAndSwap(hook, nil) {
			(*hook)()
		}
	}
	if spec := s.delay.Load(); spec != nil && spec.d > 0 {
		if d, p := spec.d, spec.path; p == "" || strings.HasSuffix(r.URL.Path, p) {
			if s.blind.Load() {
				time.Sleep(d)
				s.provider.ServeHTTP(w, r)
				return
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
	}
	s.provider.ServeHTTP(w, r)
}

func (s *idpServer) trackConn(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(s.conns, c)
	default:
		s.conns[c] = st
	}
}

// openConns is the number of connections the IdP holds open now.
func (s *idpServer) openConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// requests returns how many requests reached a path ending in suffix.
func (s *idpServer) requests(suffix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p, c := range s.served {
		if strings.HasSuffix(p, suffix) {
			n += c
		}
	}
	return n
}

// delaySpec is one setDelay: requests to paths ending in path ("" = all)
// take d.
type delaySpec struct {
	path string
	d    time.Duration
}

// setDelay makes requests to paths ending in pathSuffix ("" = all) take d.
// Path and delay change together: stored one after the other, a request
// arriving in between could see setDelay("", 0)'s path with the old delay
// and be held for it whatever its path (a discovery fetch or revocation
// after the IdP "sped up").
func (s *idpServer) setDelay(pathSuffix string, d time.Duration) {
	s.delay.Store(&delaySpec{path: pathSuffix, d: d})
}

// Down closes the listener and every connection: the IdP is unreachable
// (connection refused) until Up.
func (s *idpServer) Down() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Up listens again on the same address.
func (s *idpServer) Up() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("idp: listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// waitFor polls cond every 50ms until it holds or ctx ends.
func waitFor(ctx context.Context, what string, cond func() bool) error {
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
