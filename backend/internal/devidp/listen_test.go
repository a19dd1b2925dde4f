package devidp

import (
	"strings"
	"testing"
)

func TestListenLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"localhost:0", true},
		{"[::1]:0", true},
		{"127.0.0.2:0", true},
		{":0", false},
		{"0.0.0.0:0", false},
		{"[::]:0", false},
		{"192.168.1.10:0", false},
		{"10.0.0.1:0", false},
		{"example.com:0", false},
		{"127.0.0.1", false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			l, err := ListenLoopback(tc.addr)
			if !tc.ok {
				if err == nil {
					l.Close()
					t.Fatalf("ListenLoopback(%q) accepted a non-loopback address", tc.addr)
				}
				return
			}
			if err != nil {
				if strings.Contains(tc.addr, "::1") && strings.Contains(err.Error(), "cannot assign") {
					t.Skip("no IPv6 loopback here")
				}
				t.Fatalf("ListenLoopback(%q): %v", tc.addr, err)
			}
			defer l.Close()
			if !strings.HasPrefix(l.Addr().String(), "127.") && !strings.HasPrefix(l.Addr().String(), "[::1]") {
				t.Fatalf("listening on %s", l.Addr())
			}
		})
	}
}
