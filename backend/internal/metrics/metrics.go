// Package metrics holds the BFF's Prometheus collectors.
//
// Every collector is registered on a registry the caller owns (never the
// global default one), so tests and several servers in one process do not
// collide. Label values are fixed, low-cardinality sets: route patterns, not
// raw paths; result words, not error texts. Nothing here ever sees a token,
// a cookie or a session id.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Refresh results, the values of the "result" label of RefreshesTotal.
const (
	RefreshSuccess  = "success"  // this request refreshed the tokens
	RefreshFailure  = "failure"  // the refresh failed and the request failed with it
	RefreshExpired  = "expired"  // Logto rejected the refresh token: the session ended
	RefreshWaited   = "waited"   // another request (or replica) refreshed while this one waited
	RefreshDeferred = "deferred" // a refresh ahead of expiry failed transiently; the still valid token was used
)

// Metrics is the set of collectors the BFF updates. The zero value is not
// usable; build it with New. A nil *Metrics is valid and records nothing, so
// packages can take one optionally.
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	signIns         *prometheus.CounterVec
	signOuts        prometheus.Counter
	refreshes       *prometheus.CounterVec
	backchannel     *prometheus.CounterVec
	proxyDuration   *prometheus.HistogramVec
	proxyErrors     *prometheus.CounterVec
	storeErrors     *prometheus.CounterVec
}

// New registers the BFF's collectors, plus the Go runtime and process
// collectors, on a fresh registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bff_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bff_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bff_sign_ins_total",
			Help: "Completed sign-in callbacks, by result (success, failure).",
		}, []string{"result"}),
		signOuts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bff_sign_outs_total",
			Help: "Sign-outs requested by the browser.",
		}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bff_token_refreshes_total",
			Help: "Token refreshes, by result (success, failure, expired, waited, deferred).",
		}, []string{"result"}),
		backchannel: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bff_backchannel_logouts_total",
			Help: "Back-channel logout requests, by result (success, rejected, failure).",
		}, []string{"result"}),
		proxyDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bff_proxy_upstream_duration_seconds",
			Help:    "Time until an upstream API answered a proxied request, by route name and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "code"}),
		proxyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bff_proxy_upstream_errors_total",
			Help: "Proxied requests that got no answer from the upstream, by route name.",
		}, []string{"route"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bff_session_store_errors_total",
			Help: "Session store operations that failed because the store was unavailable, by operation.",
		}, []string{"op"}),
	}
	reg.MustRegister(
		m.requests, m.requestDuration, m.signIns, m.signOuts, m.refreshes,
		m.backchannel, m.proxyDuration, m.proxyErrors, m.storeErrors,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry returns the registry the collectors live on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRequest records one served request. route is the router's pattern
// (e.g. "/api/proxy/:route/*path"), or "unmatched" — never a raw path.
func (m *Metrics) ObserveRequest(route, method string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.requestDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// SignIn records a completed callback.
func (m *Metrics) SignIn(ok bool) {
	if m == nil {
		return
	}
	m.signIns.WithLabelValues(result(ok, "success", "failure")).Inc()
}

// SignOut records a sign-out.
func (m *Metrics) SignOut() {
	if m == nil {
		return
	}
	m.signOuts.Inc()
}

// Refresh records a refresh outcome: one of RefreshSuccess, RefreshFailure,
// RefreshExpired, RefreshWaited, RefreshDeferred.
func (m *Metrics) Refresh(outcome string) {
	if m == nil {
		return
	}
	m.refreshes.WithLabelValues(outcome).Inc()
}

// Backchannel records a back-channel logout: "success", "rejected" (bad
// token) or "failure" (store down).
func (m *Metrics) Backchannel(outcome string) {
	if m == nil {
		return
	}
	m.backchannel.WithLabelValues(outcome).Inc()
}

// ProxyUpstream records the upstream's answer to a proxied request, or an
// upstream error when code is 0.
func (m *Metrics) ProxyUpstream(route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	if code == 0 {
		m.proxyErrors.WithLabelValues(route).Inc()
		return
	}
	m.proxyDuration.WithLabelValues(route, strconv.Itoa(code)).Observe(d.Seconds())
}

// StoreError records a session-store failure for operation op (e.g. "load").
func (m *Metrics) StoreError(op string) {
	if m == nil {
		return
	}
	m.storeErrors.WithLabelValues(op).Inc()
}

func result(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}
