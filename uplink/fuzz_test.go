package uplink

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// FuzzParseURL: any string either parses to a UDP address or is refused
// with an error; a result always came from a udp:// URL.
func FuzzParseURL(f *testing.F) {
	f.Add("udp://127.0.0.1:10000")
	f.Add("udp://[::1]:0")
	f.Add("udp://:")
	f.Add("tcp://x:1")
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(strings.TrimPrefix(s, "udp://"), "/") || strings.ContainsAny(s, "\x00") {
			return // not a host:port; the resolver may still be asked, skip
		}
		if !strings.HasPrefix(s, "udp://") {
			if _, err := ParseURL(s); err == nil {
				t.Fatalf("%q accepted without udp://", s)
			}
			return
		}
		rest := strings.TrimPrefix(s, "udp://")
		if strings.Trim(rest, "0123456789abcdefABCDEF:.[]") != "" {
			return // may be a host name: the resolver would be asked; not this fuzz's business
		}
		// Hex digits spell host names too ("dead:1", "a.b:1"): only an IP
		// literal (or no host) is parsed here, never a DNS lookup, which
		// held the target near 1000 inputs/s.
		if host, _, err := net.SplitHostPort(rest); err == nil && host != "" {
			if _, err := netip.ParseAddr(host); err != nil {
				return
			}
		}
		a, err := ParseURL(s)
		if err == nil && (a.Port < 0 || a.Port > 65535) {
			t.Fatalf("%q: port %d", s, a.Port)
		}
	})
}
