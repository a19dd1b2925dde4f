package reliability

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// scrapeMetrics fetches GET /metrics from replica i's own metrics
// listener (never the main one), saves it beside the logs so the secret
// scan covers it, and returns it.
func scrapeMetrics(ctx context.Context, t *testing.T, c *cluster, i int) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.replicas[i].metrics+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s /metrics: %v", c.replicas[i].name, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s /metrics = %d %v", c.replicas[i].name, resp.StatusCode, err)
	}
	p := filepath.Join(c.dir, fmt.Sprintf("%s.metrics.txt", c.replicas[i].name))
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	c.logs = append(c.logs, p)
	return string(body)
}

var labelValue = regexp.MustCompile(`([a-z_]+)="([^"]*)"`)

// checkMetricLabels fails if a label value echoes client input (a path,
// a host, an unknown route name): hostile requests must not grow the
// series without bound.
func checkMetricLabels(t *testing.T, name, text string, allowed map[string]bool) {
	t.Helper()
	series := 0
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		series++
		if !strings.HasPrefix(line, "bff_") {
			continue
		}
		for _, m := range labelValue.FindAllStringSubmatch(line, -1) {
			k, v := m[1], m[2]
			if k == "le" || k == "quantile" {
				continue
			}
			if strings.ContainsAny(v, "%\\.@:") && !allowed[v] || strings.Contains(v, "evil") || strings.Contains(v, "127.0.0.1") {
				t.Errorf("%s: metric label %s=%q echoes client input: %s", name, k, v, line)
			}
		}
	}
	if series > 2000 {
		t.Errorf("%s: %d series after the test: unbounded labels?", name, series)
	}
}
