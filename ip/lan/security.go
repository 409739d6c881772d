package lan

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// EtherTypes and protocol numbers the port security checks read.
const (
	etherIPv4  = 0x0800
	etherARP   = 0x0806
	etherIPv6  = 0x86dd
	etherVLAN  = 0x8100
	etherQinQ  = 0x88a8
	protoICMP6 = 58
	ndpNS      = 135
	ndpNA      = 136
)

// guard is a port's security settings: the MAC it is locked to and the
// source addresses it may use.
type guard struct {
	lockMAC bool
	mac     MAC
	ips     []netip.Addr // non-empty: IP lock
}

func (g *guard) active() bool { return g.lockMAC || len(g.ips) > 0 }

func (g *guard) ipAllowed(a netip.Addr) bool {
	return a.IsUnspecified() || slices.Contains(g.ips, a)
}

// check returns the reason to refuse frame f (at least 14 bytes), or
// NumReasons to accept it. With a MAC lock the Ethernet source, an ARP
// sender and NDP link-layer options must be the port's MAC; with an IP lock
// the IPv4/IPv6 source, an ARP sender and an NDP advertisement's target
// must be one of the port's IPs or unspecified (0.0.0.0, ::: DHCP and
// duplicate address detection). A frame an IP-locked port cannot verify
// (truncated ARP/IP, ARP for another protocol) is refused.
func (g *guard) check(f []byte) Reason {
	if g.lockMAC && MAC(f[6:12]) != g.mac {
		return ReasonSpoofedMAC
	}
	et, p, ok := etherPayload(f)
	if !ok {
		return g.unverifiable()
	}
	ipLock := len(g.ips) > 0
	switch et {
	case etherARP:
		if len(p) < 28 || binary.BigEndian.Uint16(p[0:]) != 1 || binary.BigEndian.Uint16(p[2:]) != etherIPv4 || p[4] != 6 || p[5] != 4 {
			return g.unverifiable()
		}
		if g.lockMAC && MAC(p[8:14]) != g.mac {
			return ReasonSpoofedMAC
		}
		if ipLock && !g.ipAllowed(netip.AddrFrom4([4]byte(p[14:18]))) {
			return ReasonSpoofedIP
		}
	case etherIPv4:
		if !ipLock {
			break
		}
		if len(p) < 20 || p[0]>>4 != 4 {
			return ReasonSpoofedIP
		}
		if !g.ipAllowed(netip.AddrFrom4([4]byte(p[12:16]))) {
			return ReasonSpoofedIP
		}
	case etherIPv6:
		if len(p) < 40 || p[0]>>4 != 6 {
			return g.unverifiable()
		}
		if ipLock && !g.ipAllowed(netip.AddrFrom16([16]byte(p[8:24]))) {
			return ReasonSpoofedIP
		}
		if p[6] != protoICMP6 {
			break
		}
		m := p[40:]
		if len(m) < 1 || (m[0] != ndpNS && m[0] != ndpNA) {
			break
		}
		if len(m) < 24 {
			return g.unverifiable()
		}
		if m[0] == ndpNA && ipLock && !g.ipAllowed(netip.AddrFrom16([16]byte(m[8:24]))) {
			return ReasonSpoofedIP
		}
		if g.lockMAC {
			for o := m[24:]; len(o) >= 2; {
				l := int(o[1]) * 8
				if l == 0 || l > len(o) {
					return ReasonSpoofedMAC // malformed options: refuse
				}
				if (o[0] == 1 || o[0] == 2) && (l < 8 || MAC(o[2:8]) != g.mac) {
					return ReasonSpoofedMAC
				}
				o = o[l:]
			}
		}
	default:
		if ipLock && (et == etherVLAN || et == etherQinQ) {
			return ReasonSpoofedIP // more than two tags: cannot see inside
		}
	}
	return NumReasons
}

// etherPayload returns the EtherType of frame f (at least 14 bytes) and
// what follows it, behind up to two VLAN tags; false if a tag is cut off.
// With more than two tags, et is still a VLAN type.
func etherPayload(f []byte) (et uint16, p []byte, ok bool) {
	off := 12
	et = binary.BigEndian.Uint16(f[off:])
	for i := 0; i < 2 && (et == etherVLAN || et == etherQinQ); i++ {
		off += 4
		if len(f) < off+2 {
			return 0, nil, false
		}
		et = binary.BigEndian.Uint16(f[off:])
	}
	return et, f[off+2:], true
}

// unverifiable is the verdict on a frame the checks cannot read: refused
// on an IP-locked port, accepted on a port locked to its MAC only (whose
// source MAC was already checked).
func (g *guard) unverifiable() Reason {
	if len(g.ips) > 0 {
		return ReasonSpoofedIP
	}
	return NumReasons
}
