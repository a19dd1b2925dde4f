package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/logto-bff/bff/backend/internal/config"
)

// runHealthcheck is `bff healthcheck` (a Docker HEALTHCHECK): GET /healthz
// on the address the local server listens on (BFF_LISTEN; an unspecified
// host means loopback). Only BFF_LISTEN is read, so it works with the
// server's environment without validating the rest.
func runHealthcheck(ctx context.Context, getenv func(string) string) error {
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
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %d", resp.StatusCode)
	}
	return nil
}
