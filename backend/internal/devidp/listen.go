package devidp

import (
	"fmt"
	"net"
	"net/netip"
)

// ListenLoopback listens on addr ("127.0.0.1:3001", "[::1]:0",
// "localhost:3001") and refuses anything that is not a loopback address: an
// empty host, 0.0.0.0, a LAN address or another host name. The dev IdP must
// never be reachable from another machine.
func ListenLoopback(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("devidp: listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() || ip.Zone() != "" {
		return nil, fmt.Errorf("devidp: refusing to listen on %q: the development identity provider only binds a loopback address", addr)
	}
	return net.Listen("tcp", net.JoinHostPort(ip.String(), port))
}
