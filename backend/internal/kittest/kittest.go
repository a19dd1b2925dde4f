// Package kittest holds the small helpers that the tests of several
// packages share: a settable clock (Clock), a log buffer safe for
// concurrent writers (LogBuffer), ES384 JWT signing for sample and forged
// logout tokens (SignES384, SignClaimsES384), and an httptest server whose
// handler is set after it starts and that a test can take down (Gate, for
// a dev IdP). It imports nothing of this module, so any package's tests,
// internal or external, can use it without an import cycle. Test code
// only: the bff binary must never link it (cmd/bff's deps_test checks).
package kittest
