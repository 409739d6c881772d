package wire

import "encoding/binary"

// The Peek functions look at the fixed part of a header only, for a reader
// that may hold just the start of a packet (a switch checking a frame it
// holds by reference reads its first bytes): they check the buffer holds
// the fixed header and the version or type fields that say what it is,
// nothing that depends on the rest of the packet (lengths, options,
// checksums). They never allocate and report false rather than an error;
// use the Parse functions or Decode where the whole packet is at hand.

// Untag returns the EtherType of frame (at least EthernetSize bytes) and
// what follows it, behind up to MaxVLANTags 802.1Q/802.1ad tags; ok is
// false if a tag is cut off. Behind more tags, etherType is still a tag's
// TPID (EtherTypeVLAN or EtherTypeQinQ).
func Untag(frame []byte) (etherType uint16, payload []byte, ok bool) {
	off := ethEtherType
	etherType = binary.BigEndian.Uint16(frame[off:])
	for i := 0; i < MaxVLANTags && (etherType == EtherTypeVLAN || etherType == EtherTypeQinQ); i++ {
		off += VLANSize
		if len(frame) < off+2 {
			return 0, nil, false
		}
		etherType = binary.BigEndian.Uint16(frame[off:])
	}
	return etherType, frame[off+2:], true
}

// PeekARP returns b as an ARP view if it holds an ARP packet for IPv4 over
// Ethernet (28 bytes, hardware type 1, protocol type 0x0800, address
// lengths 6 and 4): what ParseARP checks.
func PeekARP(b []byte) (ARP, bool) {
	var fe FieldError
	if !checkARP(b, &fe) {
		return nil, false
	}
	return ARP(b[:ARPSize]), true
}

// PeekIPv4 returns b as an IPv4 view if it holds a fixed IPv4 header (20
// bytes) of version 4. The header length, total length and options are
// not checked: read only the fixed fields.
func PeekIPv4(b []byte) (IPv4, bool) {
	if len(b) < IPv4MinSize || b[ipv4VersIHL]>>4 != 4 {
		return nil, false
	}
	return IPv4(b), true
}

// PeekIPv6 returns b as an IPv6 view if it holds a fixed IPv6 header (40
// bytes) of version 6. The payload length is not checked.
func PeekIPv6(b []byte) (IPv6, bool) {
	if len(b) < IPv6Size || b[ipv6VersTCFL]>>4 != 6 {
		return nil, false
	}
	return IPv6(b), true
}

// PeekTCP returns b as a TCP view if it holds a TCP header whose data
// offset is at least 20 and within b. The options are not checked.
func PeekTCP(b []byte) (TCP, bool) {
	if len(b) < TCPMinSize {
		return nil, false
	}
	t := TCP(b)
	if d := t.DataOffset(); d < TCPMinSize || d > len(b) {
		return nil, false
	}
	return t, true
}

// PeekUDP returns b as a UDP view if it holds a UDP header. The length
// field is not checked.
func PeekUDP(b []byte) (UDP, bool) {
	if len(b) < UDPSize {
		return nil, false
	}
	return UDP(b), true
}

// PeekNDP looks at b, an ICMPv6 message or its start: ndp reports whether
// it is a neighbour solicitation or advertisement, ok whether it then
// holds their fixed part (24 bytes, up to the target address). The options
// are not checked: walk them with NDPOptionIter.
func PeekNDP(b []byte) (m ICMPv6, ndp, ok bool) {
	if len(b) < 1 || (b[icmpType] != ICMPv6NeighborSolicitation && b[icmpType] != ICMPv6NeighborAdvertisement) {
		return nil, false, false
	}
	if len(b) < NDPNeighborSize {
		return nil, true, false
	}
	return ICMPv6(b), true, true
}
