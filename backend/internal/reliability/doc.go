// Package reliability is TEST-ONLY (no code of its own, nothing imports
// it): the BFF's reliability and security suite, Go tests that build the
// real bff binary once, run two or three bff processes in serve mode
// against one real redis-server and the development identity provider
// (served in the test process on loopback), and prove under load, faults
// and hostile input that
//
//   - 200 users sign in, use the API across token expiry on every replica
//     and sign out with zero errors, zero lost sessions and zero refresh
//     token reuse at the identity provider;
//   - a replica killed with SIGKILL, a Redis restart (with persistence), an
//     unreachable Redis, an unreachable or slow identity provider cost no
//     session, answer 503 rather than signing anyone out, stay within the
//     BFF's timeouts, leak no connection, file descriptor or thread, and
//     recover by themselves;
//   - hostile input (open redirects, forged or cross-browser state, foreign
//     cookies, CSRF, Host smuggling, oversized headers and bodies, proxy
//     path escapes, forged back-channel logout tokens) is refused;
//   - no token, authorization code, client secret, session id or cookie
//     value ever reaches a log line of any process.
//
// Topology: every replica gets the same BFF_PUBLIC_URL (http://bff.test)
// and the test clients route each request to a replica of their choice
// with a balancing http.RoundTripper (round-robin over live replicas, or
// pinned to one replica), so one public origin, one redirect URI and one
// cookie jar per user cover every replica, the way a load balancer would.
//
// The package has no non-test code: it is this file and *_test.go files.
// Run it with `go test -count=1 ./backend/internal/reliability/...`; it
// needs the Go toolchain (to build ./backend/cmd/bff) and redis-server.
package reliability
