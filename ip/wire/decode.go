package wire

import "encoding/binary"

// MaxVLANTags is how many stacked 802.1Q/802.1ad tags Decode accepts.
const MaxVLANTags = 2

// Packet holds views of every layer Decode found in one frame. Views of
// layers not present are nil. A Packet is meant to be reused: Decode
// overwrites every field.
type Packet struct {
	Ethernet  Ethernet
	VLAN      [MaxVLANTags]VLAN // tags, outermost first
	NumVLAN   int
	EtherType uint16 // of the payload, after any tags
	L3        []byte // bytes after the Ethernet header and tags

	ARP  ARP
	IPv4 IPv4
	IPv6 IPv6
	Ext  IPv6Chain // IPv6 extension headers; Ext.N == 0 when none

	// Protocol is the upper-layer protocol number (IPv4 protocol, or the
	// last next-header of the IPv6 chain); L4 is its bytes. For a fragment
	// other than the first, or the first of several, L4 holds fragment
	// data and the L4 views below stay nil.
	Protocol uint8
	L4       []byte
	Fragment bool

	TCP        TCP
	TCPOptions TCPOptions // decoded options of TCP; valid when TCP != nil
	UDP        UDP
	ICMPv4     ICMPv4
	ICMPv6     ICMPv6

	// Payload is the data after the last decoded header (application data
	// for TCP and UDP, the message body for ICMP).
	Payload []byte

	// Err is where Decode records a refusal; Decode returns &p.Err so that
	// a failure allocates nothing.
	Err FieldError
}

// Decode parses an Ethernet frame into p: Ethernet, up to two VLAN tags,
// then ARP, IPv4 or IPv6 (with its extension-header chain), then TCP (with
// its options checked), UDP, ICMPv4 or ICMPv6. Other EtherTypes and
// protocols are not errors: decoding stops with the payload in L3 or L4.
// TCP options are decoded into p.TCPOptions. Checksums are not verified.
// On error it returns &p.Err, a *FieldError, and the views decoded so far
// stay set.
func Decode(frame []byte, p *Packet) error {
	p.reset()
	e := &p.Err
	if !checkEthernet(frame, e) {
		return e
	}
	p.Ethernet = Ethernet(frame[:EthernetSize])
	et := binary.BigEndian.Uint16(frame[ethEtherType:])
	b := frame[EthernetSize:]
	for et == EtherTypeVLAN || et == EtherTypeQinQ {
		if p.NumVLAN == MaxVLANTags {
			e.fail("vlan", "tags", Unsupported, p.NumVLAN+1, MaxVLANTags)
			return e
		}
		if len(b) < VLANSize {
			e.short("vlan", "tag", VLANSize, len(b))
			return e
		}
		p.VLAN[p.NumVLAN] = VLAN(b[:VLANSize])
		p.NumVLAN++
		et = binary.BigEndian.Uint16(b[vlanEtherType:])
		b = b[VLANSize:]
	}
	p.EtherType, p.L3 = et, b
	switch et {
	case EtherTypeARP:
		if !checkARP(b, e) {
			return e
		}
		p.ARP = ARP(b[:ARPSize])
		return nil
	case EtherTypeIPv4:
		h, ok := checkIPv4(b, e)
		if !ok {
			return e
		}
		p.IPv4 = h
		p.Protocol = h.Protocol()
		p.L4 = h[h.HeaderLength():]
		p.Fragment = h.IsFragment()
	case EtherTypeIPv6:
		h, ok := checkIPv6(b, e)
		if !ok {
			return e
		}
		p.IPv6 = h
		if nh := h.NextHeader(); !isIPv6Ext(nh) {
			// No extension headers: the common case, without the walk.
			p.Ext.Upper, p.Ext.Payload = nh, h[IPv6Size:]
		} else if !p.Ext.parse(h, e) {
			return e
		}
		p.Protocol, p.L4 = p.Ext.Upper, p.Ext.Payload
		if f := p.Ext.Fragment; f != nil {
			p.Fragment = f.FragmentOffset() != 0 || f.MoreFragments()
		}
	default:
		return nil
	}
	p.Payload = p.L4
	if p.Fragment {
		return nil
	}
	switch p.Protocol {
	case ProtoTCP:
		if !checkTCPOptions(p.L4, &p.TCPOptions, e) {
			return e
		}
		p.TCP = TCP(p.L4)
		p.Payload = p.TCP[p.TCP.DataOffset():]
	case ProtoUDP:
		u, ok := checkUDP(p.L4, e)
		if !ok {
			return e
		}
		p.UDP = u
		p.Payload = u[UDPSize:]
	case ProtoICMPv4:
		if p.IPv4 == nil {
			return nil // ICMPv4 inside IPv6: not decoded
		}
		if len(p.L4) < ICMPSize {
			e.short("icmpv4", "header", ICMPSize, len(p.L4))
			return e
		}
		p.ICMPv4 = ICMPv4(p.L4)
		p.Payload = p.L4[ICMPSize:]
	case ProtoICMPv6:
		if p.IPv6 == nil {
			return nil
		}
		if !checkICMPv6(p.L4, e) {
			return e
		}
		p.ICMPv6 = ICMPv6(p.L4)
		p.Payload = p.L4[ICMPSize:]
	}
	return nil
}

// reset clears what Decode sets, leaving the arrays of views (VLAN,
// Ext.Headers) to be overwritten as NumVLAN and Ext.N grow.
func (p *Packet) reset() {
	p.Ethernet, p.L3, p.ARP, p.IPv4, p.IPv6 = nil, nil, nil, nil, nil
	p.NumVLAN, p.EtherType, p.Protocol, p.Fragment = 0, 0, 0, false
	p.Ext.N, p.Ext.Fragment, p.Ext.Upper, p.Ext.Payload = 0, nil, 0, nil
	p.L4, p.TCP, p.UDP, p.ICMPv4, p.ICMPv6, p.Payload = nil, nil, nil, nil, nil, nil
}

func isIPv6Ext(p uint8) bool {
	return p == ProtoHopByHop || p == ProtoRouting || p == ProtoFragment || p == ProtoDestOpts
}
