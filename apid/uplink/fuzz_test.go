package uplink

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"spacenet/apid/ccsds"
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

// FuzzReadPacket: a TCP byte stream, cut into packets by readPacket, never
// panics; every packet returned is as long as its header says, and the
// stream is consumed in step (what was read adds up to the input).
func FuzzReadPacket(f *testing.F) {
	f.Add([]byte{0x10, 0x20, 0xC0, 0x00, 0x00, 0x01, 'h', 'i', 0x10, 0x20, 0xC0, 0x01, 0x00})
	f.Add(append([]byte{0x10, 0x20, 0xC0, 0x00, 0x01, 0x2B}, make([]byte, 300)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		buf := make([]byte, ccsds.MaxLayoutPacketSize)
		read := 0
		for {
			p, err := readPacket(r, buf)
			if err != nil && !errors.Is(err, errTooLong) {
				return
			}
			if err == nil {
				if len(p) != ccsds.HeaderSize+int(binary.BigEndian.Uint16(p[4:]))+1 {
					t.Fatalf("packet of %d octets, header says otherwise: % X", len(p), p[:6])
				}
				read += len(p)
			}
			if consumed := len(b) - r.Len(); err == nil && consumed != read {
				t.Fatalf("consumed %d, packets %d", consumed, read)
			} else if err != nil {
				read = consumed
			}
		}
	})
}
