package main

import (
	"strings"
	"testing"
	"time"
)

// wrkOK is real `wrk --latency` output (Debian wrk 4.1.0).
const wrkOK = `Running 5s test @ http://127.0.0.1:44853/api/me
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.62ms    1.05ms  21.42ms   90.43%
    Req/Sec    20.31k     1.12k   22.07k    76.00%
  Latency Distribution
     50%    1.41ms
     75%    1.79ms
     90%    2.41ms
     99%    5.94ms
  101079 requests in 5.00s, 68.03MB read
Requests/sec:  20213.71
Transfer/sec:     13.60MB
`

// wrkErrors has both error lines wrk prints.
const wrkErrors = `Running 1s test @ http://127.0.0.1:18099/nonexist
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.35us  622.35us  10.77ms   92.22%
    Req/Sec     2.93k    88.97     3.12k    81.82%
  Latency Distribution
     50%  798.00us
     75%    1.51ms
     90%    1.77ms
     99%    1.02s
  3203 requests in 1.10s, 1.59MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 3203
Requests/sec:   2911.68
Transfer/sec:      1.44MB
`

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    wrkResult
		wantErr string // substring; "" = no error
	}{
		{
			name: "clean run",
			out:  wrkOK,
			want: wrkResult{Requests: 101079, Elapsed: 5 * time.Second, RPS: 20213.71,
				P50: 1410 * time.Microsecond, P99: 5940 * time.Microsecond},
		},
		{
			name: "errors and microsecond and second latencies",
			out:  wrkErrors,
			want: wrkResult{Requests: 3203, Elapsed: 1100 * time.Millisecond, RPS: 2911.68,
				P50: 798 * time.Microsecond, P99: 1020 * time.Millisecond, SocketErrors: 10, Non2xx: 3203},
		},
		{
			name:    "no --latency",
			out:     strings.Replace(wrkOK, "  Latency Distribution\n     50%    1.41ms\n     75%    1.79ms\n     90%    2.41ms\n     99%    5.94ms\n", "", 1),
			wantErr: "50% latency, 99% latency",
		},
		{
			name:    "empty output",
			out:     "",
			wantErr: "request count, Requests/sec",
		},
		{
			name:    "unreadable non-2xx count",
			out:     strings.Replace(wrkErrors, "responses: 3203", "responses: many", 1),
			wantErr: "non-2xx",
		},
		{
			name:    "unreadable socket errors",
			out:     strings.Replace(wrkErrors, "timeout 4", "timeout", 1),
			wantErr: "socket errors",
		},
		{
			name:    "unknown latency unit",
			out:     strings.Replace(wrkOK, "99%    5.94ms", "99%    5.94ns", 1),
			wantErr: "latency line",
		},
		{
			name:    "unreadable Requests/sec",
			out:     strings.Replace(wrkOK, "Requests/sec:  20213.71", "Requests/sec:  lots", 1),
			wantErr: "Requests/sec",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseWrk error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseWrk: %v", err)
			}
			if got != tt.want {
				t.Errorf("parseWrk =\n %+v\nwant\n %+v", got, tt.want)
			}
			if (got.Errors() > 0) != (tt.want.SocketErrors+tt.want.Non2xx > 0) {
				t.Errorf("Errors() = %d", got.Errors())
			}
		})
	}
}

func TestParseWrkDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"812.35us", 812350 * time.Nanosecond, false},
		{"1.62ms", 1620 * time.Microsecond, false},
		{"5.00s", 5 * time.Second, false},
		{"1.50m", 90 * time.Second, false},
		{"2.00h", 2 * time.Hour, false},
		{"12", 0, true},
		{"-1ms", 0, true},
		{"ms", 0, true},
	}
	for _, tt := range tests {
		got, err := parseWrkDuration(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{"present", "Name:\tbff\nVmPeak:\t  900000 kB\nVmRSS:\t   123456 kB\nRssAnon:\t 100000 kB\n", 123456 << 10, false},
		{"missing", "Name:\tbff\nVmPeak:\t  900000 kB\n", 0, true},
		{"other unit", "VmRSS:\t 12 MB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS(tt.status)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseVmRSS = %d, %v; want %d, error %t", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestMedianOf(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		if got := medianOf(tt.in); got != tt.want {
			t.Errorf("medianOf(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestMetricValue(t *testing.T) {
	const exposition = `# HELP go_memstats_heap_alloc_bytes Number of heap bytes allocated and currently in use.
# TYPE go_memstats_heap_alloc_bytes gauge
go_memstats_heap_alloc_bytes 1.684736e+06
go_memstats_heap_alloc_bytes_total 9
go_memstats_heap_objects 15100
bff_requests_total{route="/api/me",status="200"} 12
`
	tests := []struct {
		name    string
		want    float64
		wantErr bool
	}{
		{"go_memstats_heap_alloc_bytes", 1684736, false},
		{"go_memstats_heap_objects", 15100, false},
		{"go_memstats_heap", 0, true},
		{"bff_requests_total", 0, true},
	}
	for _, tt := range tests {
		got, err := metricValue(exposition, tt.name)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("metricValue(%q) = %v, %v; want %v, error %t", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}
