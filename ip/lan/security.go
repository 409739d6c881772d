package lan

import (
	"net/netip"
	"slices"

	"spacenet/ip/wire"
)

// guard is a port's security settings: the MAC it is locked to and the
// source addresses it may use.
type guard struct {
	lockMAC bool
	mac     wire.MAC
	ips     []netip.Addr // non-empty: IP lock
}

func (g *guard) active() bool { return g.lockMAC || len(g.ips) > 0 }

func (g *guard) ipAllowed(a netip.Addr) bool {
	return a.IsUnspecified() || slices.Contains(g.ips, a)
}

// check returns the reason to refuse frame f (at least 14 bytes; for a
// frame held by reference, its start), or NumReasons to accept it. With a
// MAC lock the Ethernet source, an ARP sender and NDP link-layer options
// must be the port's MAC; with an IP lock the IPv4/IPv6 source, an ARP
// sender and an NDP advertisement's target must be one of the port's IPs
// or unspecified (0.0.0.0, ::: DHCP and duplicate address detection). A
// frame an IP-locked port cannot verify (truncated ARP/IP, ARP for another
// protocol) is refused. The headers are read with package wire's Peek
// functions, which need only the fixed part of each header.
func (g *guard) check(f []byte) Reason {
	if g.lockMAC && wire.Ethernet(f).Src() != g.mac {
		return ReasonSpoofedMAC
	}
	et, l3, ok := wire.Untag(f)
	if !ok {
		return g.unverifiable()
	}
	ipLock := len(g.ips) > 0
	switch et {
	case wire.EtherTypeARP:
		arp, ok := wire.PeekARP(l3)
		if !ok {
			return g.unverifiable()
		}
		if g.lockMAC && arp.SenderMAC() != g.mac {
			return ReasonSpoofedMAC
		}
		if ipLock && !g.ipAllowed(arp.SenderIP()) {
			return ReasonSpoofedIP
		}
	case wire.EtherTypeIPv4:
		if !ipLock {
			break
		}
		ip, ok := wire.PeekIPv4(l3)
		if !ok || !g.ipAllowed(ip.Src()) {
			return ReasonSpoofedIP
		}
	case wire.EtherTypeIPv6:
		ip, ok := wire.PeekIPv6(l3)
		if !ok {
			return g.unverifiable()
		}
		if ipLock && !g.ipAllowed(ip.Src()) {
			return ReasonSpoofedIP
		}
		if ip.NextHeader() != wire.ProtoICMPv6 {
			break
		}
		// A neighbour solicitation or advertisement (what follows an
		// IPv6 header without extension headers, to the end of the
		// frame): an advertisement's target must be an allowed IP, the
		// link-layer address options the port's MAC, and the options
		// well formed.
		m, ndp, ok := wire.PeekNDP(l3[wire.IPv6Size:])
		switch {
		case !ndp:
			// Another ICMPv6 message: nothing more to check.
		case !ok:
			return g.unverifiable()
		case ipLock && m.Type() == wire.ICMPv6NeighborAdvertisement && !g.ipAllowed(m.Target()):
			return ReasonSpoofedIP
		case g.lockMAC:
			it := m.NDPOptionIter()
			for it.Next() {
				if t := it.Type(); t == wire.NDPOptionSourceLinkLayer || t == wire.NDPOptionTargetLinkLayer {
					if mac, ok := it.LinkLayer(); !ok || mac != g.mac {
						return ReasonSpoofedMAC
					}
				}
			}
			if it.Malformed() {
				return ReasonSpoofedMAC // malformed options: refuse
			}
		}
	default:
		if ipLock && (et == wire.EtherTypeVLAN || et == wire.EtherTypeQinQ) {
			return ReasonSpoofedIP // more than two tags: cannot see inside
		}
	}
	return NumReasons
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
