// Package kittest holds the small helpers that the tests of several
// packages share: a settable clock, a log buffer safe for concurrent
// writers, and ES384 JWT signing for forged or sample logout tokens. It
// imports nothing of this module, so any package's tests (internal or
// external) can use it without an import cycle. Test code only: the bff
// binary must never link it (cmd/bff's deps_test checks that).
package kittest
