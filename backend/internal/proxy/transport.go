package proxy

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// NewTransport builds the proxy's own transport (what New uses when
// Options.Transport is nil; exported so a caller that wraps the transport,
// e.g. for metrics, keeps these settings), with DefaultTransport's
// settings except where a BFF needs otherwise. It is built rather than
// cloned so that changes a program makes to http.DefaultTransport (a test's
// InsecureSkipVerify, an environment proxy) never reach bearer tokens.
//   - Proxy: nil. HTTP_PROXY/HTTPS_PROXY are ignored; an operator's
//     forward proxy would see every bearer token.
//   - MaxIdleConnsPerHost: 256 by default, no global idle cap.
//   - ResponseHeaderTimeout and dial timeout: timeout (30 s by default).
//   - TLS 1.2 or later.
//   - DisableCompression: bodies pass through as the upstream encoded
//     them, Accept-Encoding as the browser sent it.
func NewTransport(timeout time.Duration, maxIdlePerHost int) *http.Transport {
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	if maxIdlePerHost <= 0 {
		maxIdlePerHost = defaultMaxIdleConnsPerHost
	}
	dialer := &net.Dialer{Timeout: min(timeout, defaultTimeout), KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   min(timeout, 10*time.Second),
		ExpectContinueTimeout: 1 * time.Second,
		ResponseHeaderTimeout: timeout,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		DisableCompression:    true,
	}
}
