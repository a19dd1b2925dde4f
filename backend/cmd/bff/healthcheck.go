package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/logto-bff/bff/backend/internal/config"
)

// runHealthcheck is `bff healthcheck` (a Docker HEALTHCHECK): GET /healthz
// on the address the local server listens on (BFF_LISTEN; an unspecified
// host means loopback). Only BFF_LISTEN is read, so it works with the
// server's environment without validating the rest.
//
// With --namespace-owner URL (docker compose's network_mode: service:x, where
// this container joins another's network namespace), URL is the owner's own
// health URL on the shared loopback, checked first. When it does not answer,
// the owner is gone — crashed, or restarted by the daemon into a new
// namespace — and this container is orphaned in the old one, unreachable: the
// check fails, and when PID 1 is this very program (the server of this
// container), it is sent SIGTERM, so that the container exits and its restart
// policy starts it again inside the owner's current namespace.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string) error {
	owner := ""
	switch {
	case len(args) == 0:
	case len(args) == 2 && args[0] == "--namespace-owner":
		u, err := url.Parse(args[1])
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError{fmt.Sprintf("--namespace-owner: want an http(s) URL, got %q", args[1])}
		}
		owner = args[1]
	default:
		return usageError{fmt.Sprintf("healthcheck: unexpected arguments %q (see bff --help)", args)}
	}
	if owner != "" {
		if err := probe(ctx, owner); err != nil {
			if stopped := stopOrphanedServer(); stopped {
				return fmt.Errorf("namespace owner unreachable (%w): stopping the server so that it is restarted in the owner's namespace", err)
			}
			return fmt.Errorf("namespace owner unreachable: %w", err)
		}
	}
	listen := getenv(config.EnvListen)
	if listen == "" {
		s, _ := config.Lookup(config.EnvListen)
		listen = s.Default
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return usageError{fmt.Sprintf("%s: must be host:port, got %q", config.EnvListen, listen)}
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	if err := probe(ctx, "http://"+net.JoinHostPort(host, port)+"/healthz"); err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	return nil
}

// probe GETs u and requires a 2xx answer within 3 s.
func probe(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %d", req.URL.Path, resp.StatusCode)
	}
	return nil
}

// stopOrphanedServer sends SIGTERM to PID 1 if, and only if, PID 1 runs
// this same executable (the bff server of this container; never an init
// system or anything else), and reports whether it did.
func stopOrphanedServer() bool {
	self, err := os.Stat("/proc/self/exe")
	if err != nil {
		return false
	}
	pid1, err := os.Stat("/proc/1/exe")
	if err != nil || !os.SameFile(self, pid1) {
		return false
	}
	return syscall.Kill(1, syscall.SIGTERM) == nil
}
