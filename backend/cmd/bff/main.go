// Command bff is the backend-for-frontend for Logto: it runs the
// confidential OpenID Connect flow, keeps every token server-side and
// serves /api/me, the /auth routes and (optionally) the built SPA.
//
//	bff              serve, configured from the environment (bff --help)
//	bff dev          serve against the built-in development identity provider
//	bff healthcheck  exit 0 when the local server's /healthz answers
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bff:", err)
		stop()
		os.Exit(exitCode(err))
	}
}
