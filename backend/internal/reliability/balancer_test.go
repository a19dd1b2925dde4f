package reliability

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// balancer is the load balancer in front of the replicas, as an
// http.RoundTripper: requests for publicHost go to one replica —
// round-robin over live ones, or the one pinned in the request's context —
// and everything else (the IdP) goes out directly. A request that fails
// because its replica died is retried once on another live replica, as a
// load balancer with health checks would. It also records, for the secret
// scan, every authorization code and state the browser carries to the
// callback and every cookie value the BFF sets.
type balancer struct {
	replicas []*replica
	bff      []*http.Transport
	direct   *http.Transport
	next     atomic.Uint64
	secrets  *secrets
	// sem bounds the requests in flight through this balancer.
	sem chan struct{}

	retries atomic.Int64
	mu      sync.Mutex
	lat     []time.Duration // latency of every request to a replica
	perRep  map[string]int  // requests answered per replica
	// logoutTokens are the logout tokens the IdP delivered, in order.
	logoutTokens []string
}

// recordLogoutToken keeps a copy of a back-channel logout token the IdP
// sends (for replay tests) and registers it as a secret.
func (b *balancer) recordLogoutToken(req *http.Request) {
	body, err := req.GetBody()
	if err != nil {
		return
	}
	defer body.Close()
	raw, _ := io.ReadAll(io.LimitReader(body, 64<<10))
	form, err := url.ParseQuery(string(raw))
	if err != nil || form.Get("logout_token") == "" {
		return
	}
	b.secrets.add("logout token", form.Get("logout_token"))
	b.mu.Lock()
	b.logoutTokens = append(b.logoutTokens, form.Get("logout_token"))
	b.mu.Unlock()
}

func (b *balancer) lastLogoutToken() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.logoutTokens) == 0 {
		return ""
	}
	return b.logoutTokens[len(b.logoutTokens)-1]
}

// errDead: every replica behind the balancer is dead.
var errDead = errors.New("no live replica")

type pinKey struct{}

// pinned returns ctx with every BFF request sent to replica i.
func pinned(ctx context.Context, i int) context.Context {
	return context.WithValue(ctx, pinKey{}, i)
}

func newBalancer(replicas []*replica, sec *secrets, maxInFlight int) *balancer {
	b := &balancer{
		replicas: replicas,
		direct:   &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
		secrets:  sec,
		sem:      make(chan struct{}, maxInFlight),
		perRep:   map[string]int{},
	}
	for _, r := range replicas {
		b.bff = append(b.bff, replicaTransport(r))
	}
	return b
}

func replicaTransport(r *replica) *http.Transport {
	return &http.Transport{
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, r.addr)
		},
	}
}

func (b *balancer) pick(ctx context.Context, avoid int) (int, error) {
	if i, ok := ctx.Value(pinKey{}).(int); ok {
		return i, nil
	}
	n := len(b.replicas)
	for range n {
		i := int(b.next.Add(1) % uint64(n))
		if i != avoid && !b.replicas[i].dead.Load() {
			return i, nil
		}
	}
	return 0, errDead
}

func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case b.sem <- struct{}{}:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	defer func() { <-b.sem }()
	if req.URL.Hostname() != publicHost {
		return b.direct.RoundTrip(req)
	}
	if req.URL.Path == "/auth/backchannel-logout" && req.GetBody != nil {
		b.recordLogoutToken(req)
	}
	if req.URL.Path == "/auth/callback" {
		q := req.URL.Query()
		b.secrets.add("authorization code", q.Get("code"))
		b.secrets.add("state", q.Get("state"))
	}
	i, err := b.pick(req.Context(), -1)
	if err != nil {
		return nil, err
	}
	resp, err := b.send(i, req)
	_, isPinned := req.Context().Value(pinKey{}).(int)
	// A refused connection never carried the request: always safe to send
	// elsewhere. A replica that died under a request: retry what can be
	// replayed.
	if err != nil && !isPinned && (isDialError(err) || (b.replicas[i].dead.Load() && retryable(req))) {
		if j, perr := b.pick(req.Context(), i); perr == nil {
			b.retries.Add(1)
			if req.GetBody != nil {
				body, berr := req.GetBody()
				if berr != nil {
					return nil, berr
				}
				req = req.Clone(req.Context())
				req.Body = body
			}
			resp, err = b.send(j, req)
		}
	}
	return resp, err
}

// isDialError reports a connection that could not be opened.
func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// retryable: GETs, and anything whose body can be replayed.
func retryable(req *http.Request) bool {
	return req.Method == http.MethodGet || req.Method == http.MethodHead || req.Body == nil || req.GetBody != nil
}

func (b *balancer) send(i int, req *http.Request) (*http.Response, error) {
	tr, name := b.bff[i], b.replicas[i].name
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	d := time.Since(start)
	b.mu.Lock()
	b.lat = append(b.lat, d)
	b.perRep[name]++
	b.mu.Unlock()
	for _, c := range resp.Cookies() {
		if c.Value == "" {
			continue
		}
		b.secrets.add("cookie "+c.Name, c.Value)
		if id, ok := sessionIDFromCookie(c.Value); ok {
			b.secrets.add("session id", id)
		}
	}
	return resp, nil
}

// percentiles returns the p50 and p99 latency of requests to replicas.
func (b *balancer) percentiles() (p50, p99 time.Duration, n int) {
	b.mu.Lock()
	l := append([]time.Duration(nil), b.lat...)
	b.mu.Unlock()
	if len(l) == 0 {
		return 0, 0, 0
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[len(l)*50/100], l[min(len(l)-1, len(l)*99/100)], len(l)
}

func (b *balancer) perReplica() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]int{}
	for k, v := range b.perRep {
		out[k] = v
	}
	return out
}

func (b *balancer) closeIdle() {
	b.direct.CloseIdleConnections()
	for _, tr := range b.bff {
		tr.CloseIdleConnections()
	}
}

// bffURL is an absolute URL on the public origin.
func bffURL(path string) string {
	u, _ := url.Parse(publicURL + path)
	return u.String()
}
