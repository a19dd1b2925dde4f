package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// loader runs wrk against one URL with fixed headers.
type loader struct {
	bin         string
	dir         string // where header scripts are written (mode 0600)
	connections int
	threads     int
	cpu         string // non-empty: run wrk pinned to this CPU (taskset -c)
	n           int
}

// target is one row's URL and request headers.
type target struct {
	url     string
	headers map[string]string
}

// run loads t for d and returns wrk's figures. The headers (the session
// cookie among them) go into a Lua script readable only by this user, not
// onto wrk's command line, where any local user could read them.
func (l *loader) run(ctx context.Context, t target, d time.Duration) (wrkResult, error) {
	l.n++
	script := filepath.Join(l.dir, "wrk-"+strconv.Itoa(l.n)+".lua")
	var lua strings.Builder
	for k, v := range t.headers {
		fmt.Fprintf(&lua, "wrk.headers[%q] = %q\n", k, v)
	}
	if err := os.WriteFile(script, []byte(lua.String()), 0o600); err != nil {
		return wrkResult{}, err
	}
	defer os.Remove(script)

	secs := int((d + time.Second/2) / time.Second)
	args := []string{l.bin,
		"-t", strconv.Itoa(l.threads), "-c", strconv.Itoa(l.connections),
		"-d", strconv.Itoa(secs) + "s", "--timeout", "5s", "--latency", "-s", script, t.url}
	if l.cpu != "" {
		args = append([]string{"taskset", "-c", l.cpu}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return wrkResult{}, ctx.Err()
		}
		return wrkResult{}, fmt.Errorf("wrk %s: %w: %s", t.url, err, strings.TrimSpace(errOut.String()))
	}
	res, err := parseWrk(out.String())
	if err != nil {
		return res, fmt.Errorf("%w\n%s", err, out.String())
	}
	if res.Requests == 0 {
		return res, fmt.Errorf("wrk %s: no request completed", t.url)
	}
	return res, nil
}
