package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

func TestCountersMoveAndScrape(t *testing.T) {
	m := New()
	m.ObserveRequest("/api/me", "GET", 200, 3*time.Millisecond)
	m.ObserveRequest("/api/me", "GET", 200, 3*time.Millisecond)
	m.SignIn(true)
	m.SignIn(false)
	m.SignOut()
	m.Refresh(RefreshSuccess)
	m.Refresh(RefreshWaited)
	m.Backchannel("success")
	m.ProxyUpstream("demo", 200, time.Millisecond)
	m.ProxyUpstream("demo", 0, 0)
	m.StoreError("load")

	if got := testutil.ToFloat64(m.requests.WithLabelValues("/api/me", "GET", "200")); got != 2 {
		t.Errorf("requests = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.signIns.WithLabelValues("failure")); got != 1 {
		t.Errorf("failed sign-ins = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.proxyErrors.WithLabelValues("demo")); got != 1 {
		t.Errorf("proxy errors = %v, want 1", got)
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`bff_http_requests_total{code="200",method="GET",route="/api/me"} 2`,
		`bff_sign_ins_total{result="success"} 1`,
		`bff_sign_outs_total 1`,
		`bff_token_refreshes_total{result="waited"} 1`,
		`bff_backchannel_logouts_total{result="success"} 1`,
		`bff_proxy_upstream_duration_seconds_count{code="200",route="demo"} 1`,
		`bff_session_store_errors_total{op="load"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}

	problems, err := promlint.New(strings.NewReader(string(body))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "bff_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
}

func TestNilMetricsRecordsNothing(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("/", "GET", 200, time.Millisecond)
	m.SignIn(true)
	m.SignOut()
	m.Refresh(RefreshFailure)
	m.Backchannel("rejected")
	m.ProxyUpstream("x", 502, time.Millisecond)
	m.StoreError("save")
}
