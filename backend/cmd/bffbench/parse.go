package main

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what bffbench reads from one run of `wrk --latency`.
type wrkResult struct {
	Requests     int64         // "N requests in ..."
	Elapsed      time.Duration // "... in 5.00s"
	RPS          float64       // "Requests/sec:"
	P50, P99     time.Duration // "Latency Distribution"
	SocketErrors int64         // connect + read + write + timeout
	Non2xx       int64         // "Non-2xx or 3xx responses:"
}

// Errors counts every request wrk saw fail.
func (r wrkResult) Errors() int64 { return r.SocketErrors + r.Non2xx }

// parseWrk parses wrk's text output. It requires the request count, the
// Requests/sec line and the 50% and 99% lines of --latency; anything it
// cannot read is an error rather than a zero, so a change in wrk's format
// cannot pass silently as "no errors".
func parseWrk(out string) (wrkResult, error) {
	var (
		r                                  wrkResult
		haveCount, haveRPS, have50, have99 bool
		inDist                             bool
	)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case line == "Latency Distribution":
			inDist = true
		case inDist && len(f) == 2 && strings.HasSuffix(f[0], "%"):
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return r, fmt.Errorf("wrk latency line %q: %w", line, err)
			}
			switch f[0] {
			case "50%", "50.000%":
				r.P50, have50 = d, true
			case "99%", "99.000%":
				r.P99, have99 = d, true
			}
		case len(f) >= 5 && f[1] == "requests" && f[2] == "in":
			inDist = false
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk request count %q: %w", line, err)
			}
			d, err := parseWrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return r, fmt.Errorf("wrk elapsed time %q: %w", line, err)
			}
			r.Requests, r.Elapsed, haveCount = n, d, true
		case strings.HasPrefix(line, "Socket errors:"):
			n, err := sumCounts(strings.TrimPrefix(line, "Socket errors:"))
			if err != nil {
				return r, fmt.Errorf("wrk socket errors %q: %w", line, err)
			}
			r.SocketErrors = n
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")), 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk non-2xx line %q: %w", line, err)
			}
			r.Non2xx = n
		case strings.HasPrefix(line, "Requests/sec:"):
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "Requests/sec:")), 64)
			if err != nil {
				return r, fmt.Errorf("wrk Requests/sec %q: %w", line, err)
			}
			r.RPS, haveRPS = v, true
		}
	}
	var missing []string
	for _, m := range []struct {
		ok   bool
		what string
	}{{haveCount, "request count"}, {haveRPS, "Requests/sec"}, {have50, "50% latency"}, {have99, "99% latency"}} {
		if !m.ok {
			missing = append(missing, m.what)
		}
	}
	if len(missing) > 0 {
		return r, fmt.Errorf("wrk output lacks %s", strings.Join(missing, ", "))
	}
	return r, nil
}

// sumCounts adds the numbers of "connect 0, read 1, write 0, timeout 2".
func sumCounts(s string) (int64, error) {
	var total int64
	parts := strings.Split(s, ",")
	for _, p := range parts {
		f := strings.Fields(p)
		if len(f) != 2 {
			return 0, fmt.Errorf("unexpected field %q", p)
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// parseWrkDuration reads wrk's durations: "812.00us", "1.23ms", "5.00s",
// "1.50m", "2.00h".
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(v * float64(u.unit)), nil
	}
	return 0, fmt.Errorf("bad duration %q", s)
}

// parseVmRSS reads "VmRSS:  123456 kB" from /proc/<pid>/status.
func parseVmRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb << 10, nil
	}
	return 0, errNoVmRSS
}

// metricValue reads an unlabelled sample ("name 1.5e+06") from the
// Prometheus text exposition format.
func metricValue(exposition, name string) (float64, error) {
	for line := range strings.Lines(exposition) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == name {
			return strconv.ParseFloat(f[1], 64)
		}
	}
	return 0, fmt.Errorf("no %s sample in /metrics", name)
}
