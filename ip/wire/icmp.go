package wire

import (
	"encoding/binary"
	"net/netip"
)

// ICMPv4 message types.
const (
	ICMPv4EchoReply       uint8 = 0
	ICMPv4DstUnreachable  uint8 = 3
	ICMPv4EchoRequest     uint8 = 8
	ICMPv4TimeExceeded    uint8 = 11
	ICMPv4FragNeededCode  uint8 = 4 // destination unreachable: fragmentation needed
	ICMPv4PortUnreachCode uint8 = 3 // destination unreachable: port unreachable
)

// ICMPSize is the size of the ICMPv4/ICMPv6 header: type, code, checksum and
// the four type-specific bytes.
const ICMPSize = 8

// ICMPv4 and ICMPv6 header (RFC 792, RFC 4443 section 2.1); echo messages
// carry an identifier and sequence number in the rest of the header,
// "fragmentation needed" (ICMPv4) the next-hop MTU in its last two bytes,
// "packet too big" (ICMPv6) a 32-bit MTU:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Identifier          |        Sequence Number        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	icmpType     = 0
	icmpCode     = 1
	icmpChecksum = 2
	icmpRest     = 4 // the rest of the header, 32 bits
	icmpIdent    = 4
	icmpSeq      = 6
	icmpv4MTU    = 6
)

// ICMPv4 is a view of an ICMPv4 message (RFC 792), header and data.
type ICMPv4 []byte

// ICMPFields are the fields ICMPv4.Encode and ICMPv6.Encode write: type,
// code and the four type-specific bytes, which come from Ident and Seq for
// echo messages and from MTU for "fragmentation needed" and "packet too
// big" (zero otherwise).
type ICMPFields struct {
	Type, Code uint8
	Ident, Seq uint16
	MTU        uint32
}

// ParseICMPv4 checks that b holds an ICMPv4 header and returns the view.
func ParseICMPv4(b []byte) (ICMPv4, error) {
	if len(b) < ICMPSize {
		return nil, &FieldError{Layer: "icmpv4", Field: "header", Kind: Truncated, Value: ICMPSize, Limit: len(b)}
	}
	return ICMPv4(b), nil
}

// Type returns the message type.
func (m ICMPv4) Type() uint8 { return m[icmpType] }

// Code returns the code.
func (m ICMPv4) Code() uint8 { return m[icmpCode] }

// Checksum returns the checksum field.
func (m ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(m[icmpChecksum:]) }

// Ident returns an echo message's identifier.
func (m ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(m[icmpIdent:]) }

// Seq returns an echo message's sequence number.
func (m ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(m[icmpSeq:]) }

// MTU returns the next-hop MTU of a "fragmentation needed" message.
func (m ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(m[icmpv4MTU:]) }

// Payload returns the data after the 8-byte header: echo data, or the
// start of the datagram an error message is about.
func (m ICMPv4) Payload() []byte { return m[ICMPSize:] }

// SetType sets the type.
func (m ICMPv4) SetType(t uint8) { m[icmpType] = t }

// SetCode sets the code.
func (m ICMPv4) SetCode(c uint8) { m[icmpCode] = c }

// SetChecksum sets the checksum field.
func (m ICMPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(m[icmpChecksum:], c) }

// ChecksumValid reports whether the checksum over the whole message
// verifies.
func (m ICMPv4) ChecksumValid() bool { return Checksum(m) == 0 }

// UpdateChecksum recomputes the checksum over the whole view.
func (m ICMPv4) UpdateChecksum() {
	m.SetChecksum(0)
	m.SetChecksum(Checksum(m))
}

// Encode writes the header described by f and computes the checksum over
// the whole view, so put the data (echo data, or the offending datagram)
// in m[8:] first.
func (m ICMPv4) Encode(f *ICMPFields) {
	encodeICMP(m, f, f.Type == ICMPv4EchoRequest || f.Type == ICMPv4EchoReply,
		f.Type == ICMPv4DstUnreachable && f.Code == ICMPv4FragNeededCode)
	m.UpdateChecksum()
}

func encodeICMP(m []byte, f *ICMPFields, echo, mtu bool) {
	_ = m[ICMPSize-1]
	m[icmpType], m[icmpCode] = f.Type, f.Code
	binary.BigEndian.PutUint16(m[icmpChecksum:], 0)
	switch {
	case echo:
		binary.BigEndian.PutUint16(m[icmpIdent:], f.Ident)
		binary.BigEndian.PutUint16(m[icmpSeq:], f.Seq)
	case mtu:
		binary.BigEndian.PutUint32(m[icmpRest:], f.MTU)
	default:
		binary.BigEndian.PutUint32(m[icmpRest:], 0)
	}
}

// ICMPv6 message types.
const (
	ICMPv6DstUnreachable        uint8 = 1
	ICMPv6PacketTooBig          uint8 = 2
	ICMPv6TimeExceeded          uint8 = 3
	ICMPv6EchoRequest           uint8 = 128
	ICMPv6EchoReply             uint8 = 129
	ICMPv6RouterSolicitation    uint8 = 133
	ICMPv6RouterAdvertisement   uint8 = 134
	ICMPv6NeighborSolicitation  uint8 = 135
	ICMPv6NeighborAdvertisement uint8 = 136
)

// NDP sizes and option types (RFC 4861).
const (
	NDPNeighborSize          = 24 // NS or NA without options
	NDPOptionSourceLinkLayer = 1
	NDPOptionTargetLinkLayer = 2
	NDPLinkLayerOptionSize   = 8 // type, length 1, MAC
)

// NA flags, in the first byte after the checksum.
const (
	NDPFlagRouter    uint8 = 0x80
	NDPFlagSolicited uint8 = 0x40
	NDPFlagOverride  uint8 = 0x20
)

// Neighbour solicitation and advertisement (RFC 4861 sections 4.3, 4.4) and
// an option (section 4.6; the link-layer address options carry a MAC):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|R|S|O|                     Reserved                            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                       Target Address                          +
//	|                          (16 bytes)                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |    Length     |  Link-Layer Address ...       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ndpFlags      = 4
	ndpTarget     = 8
	ndpOptions    = 24 // NDPNeighborSize
	ndpOptionType = 0  // offsets in an option
	ndpOptionLen  = 1  // in units of 8 bytes
	ndpOptionData = 2
)

// ICMPv6 is a view of an ICMPv6 message (RFC 4443, RFC 4861).
type ICMPv6 []byte

// ParseICMPv6 checks b as an ICMPv6 message: the header, and for neighbour
// solicitations and advertisements their length and options.
func ParseICMPv6(b []byte) (ICMPv6, error) {
	var fe FieldError
	if !checkICMPv6(b, &fe) {
		return nil, heapErr(&fe)
	}
	return ICMPv6(b), nil
}

func checkICMPv6(b []byte, e *FieldError) bool {
	if len(b) < ICMPSize {
		return e.short("icmpv6", "header", ICMPSize, len(b))
	}
	switch b[icmpType] {
	case ICMPv6NeighborSolicitation, ICMPv6NeighborAdvertisement:
		if len(b) < NDPNeighborSize {
			return e.short("ndp", "target", NDPNeighborSize, len(b))
		}
		o := b[NDPNeighborSize:]
		for i := 0; i < len(o); {
			if i+2 > len(o) {
				return e.short("ndp", "option_length", i+2, len(o))
			}
			l := int(o[i+1]) * 8
			if l == 0 {
				return e.fail("ndp", "option_length", Invalid, 0, 1)
			}
			if i+l > len(o) {
				return e.short("ndp", "option_length", i+l, len(o))
			}
			i += l
		}
	}
	return true
}

// Type returns the message type.
func (m ICMPv6) Type() uint8 { return m[icmpType] }

// Code returns the code.
func (m ICMPv6) Code() uint8 { return m[icmpCode] }

// Checksum returns the checksum field.
func (m ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(m[icmpChecksum:]) }

// Ident returns an echo message's identifier.
func (m ICMPv6) Ident() uint16 { return binary.BigEndian.Uint16(m[icmpIdent:]) }

// Seq returns an echo message's sequence number.
func (m ICMPv6) Seq() uint16 { return binary.BigEndian.Uint16(m[icmpSeq:]) }

// MTU returns a "packet too big" message's MTU.
func (m ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(m[icmpRest:]) }

// Payload returns the data after the 8-byte header.
func (m ICMPv6) Payload() []byte { return m[ICMPSize:] }

// NDPFlags returns a neighbour advertisement's R, S, O flags.
func (m ICMPv6) NDPFlags() uint8 { return m[ndpFlags] & 0xe0 }

// Target returns an NS or NA's target address.
func (m ICMPv6) Target() netip.Addr { return netip.AddrFrom16([16]byte(m[ndpTarget : ndpTarget+16])) }

// NDPOptions returns an NS or NA's options.
func (m ICMPv6) NDPOptions() []byte { return m[NDPNeighborSize:] }

// LinkLayerOption returns the MAC carried by the first NDP option of type
// typ (NDPOptionSourceLinkLayer or NDPOptionTargetLinkLayer) in an NS or NA
// checked by ParseICMPv6.
func (m ICMPv6) LinkLayerOption(typ uint8) (MAC, bool) {
	for it := m.NDPOptionIter(); it.Next(); {
		if it.Type() == typ {
			if mac, ok := it.LinkLayer(); ok {
				return mac, true
			}
		}
	}
	return MAC{}, false
}

// SetType sets the type.
func (m ICMPv6) SetType(t uint8) { m[icmpType] = t }

// SetCode sets the code.
func (m ICMPv6) SetCode(c uint8) { m[icmpCode] = c }

// SetChecksum sets the checksum field.
func (m ICMPv6) SetChecksum(c uint16) { binary.BigEndian.PutUint16(m[icmpChecksum:], c) }

// CalculateChecksum returns the checksum of the whole message given the
// pseudo-header sum (protocol 58, length len(m)), as if the checksum field
// were zero.
func (m ICMPv6) CalculateChecksum(pseudo uint16) uint16 {
	return ^Combine(Sum(m[:icmpChecksum], pseudo), Sum(m[icmpRest:], 0))
}

// ChecksumValid reports whether the checksum verifies under the
// pseudo-header sum.
func (m ICMPv6) ChecksumValid(pseudo uint16) bool { return Sum(m, pseudo) == 0xffff }

// Encode writes the header described by f and computes the checksum over
// the whole view for the given addresses, so put the data in m[8:] first.
func (m ICMPv6) Encode(f *ICMPFields, src, dst netip.Addr) {
	encodeICMP(m, f, f.Type == ICMPv6EchoRequest || f.Type == ICMPv6EchoReply, f.Type == ICMPv6PacketTooBig)
	m.SetChecksum(m.CalculateChecksum(PseudoHeaderSum(ProtoICMPv6, src, dst, len(m))))
}

// EncodeNeighbor writes a neighbour solicitation (typ 135, option
// source link-layer) or advertisement (typ 136, flags, option target
// link-layer) for target carrying mac, with its checksum for src and dst,
// into m. It returns the message length (32), or 0 if m is too short.
func (m ICMPv6) EncodeNeighbor(typ, flags uint8, target netip.Addr, mac MAC, src, dst netip.Addr) int {
	const n = NDPNeighborSize + NDPLinkLayerOptionSize
	if len(m) < n {
		return 0
	}
	m = m[:n]
	m[icmpType], m[icmpCode] = typ, 0
	binary.BigEndian.PutUint32(m[ndpFlags:], uint32(flags)<<24)
	t := target.As16()
	copy(m[ndpTarget:ndpTarget+16], t[:])
	o := m[ndpOptions:]
	o[ndpOptionType] = NDPOptionSourceLinkLayer
	if typ == ICMPv6NeighborAdvertisement {
		o[ndpOptionType] = NDPOptionTargetLinkLayer
	}
	o[ndpOptionLen] = 1
	copy(o[ndpOptionData:ndpOptionData+MACSize], mac[:])
	m.SetChecksum(m.CalculateChecksum(PseudoHeaderSum(ProtoICMPv6, src, dst, n)))
	return n
}

// NDPOptions iterates over the options of a neighbour solicitation or
// advertisement (PeekNDP or ParseICMPv6 checked its fixed part):
//
//	for it := m.NDPOptionIter(); it.Next(); { use(it.Type(), it.LinkLayer()) }
//	if it.Malformed() { refuse }
//
// A final single byte, too short for an option, is ignored.
type NDPOptions struct {
	b, cur    []byte
	malformed bool
}

// NDPOptionIter returns an iterator over m's NDP options.
func (m ICMPv6) NDPOptionIter() NDPOptions { return NDPOptions{b: m[ndpOptions:]} }

// Next advances to the next option; false at the end or at a malformed
// option (length 0, or beyond the message), which Malformed then reports.
func (it *NDPOptions) Next() bool {
	if len(it.b) < 2 {
		return false
	}
	l := int(it.b[ndpOptionLen]) * 8
	if l == 0 || l > len(it.b) {
		it.b, it.malformed = nil, true
		return false
	}
	it.cur, it.b = it.b[:l], it.b[l:]
	return true
}

// Malformed reports whether Next stopped at a malformed option.
func (it *NDPOptions) Malformed() bool { return it.malformed }

// Type returns the current option's type.
func (it *NDPOptions) Type() uint8 { return it.cur[ndpOptionType] }

// LinkLayer returns the MAC a link-layer address option carries; false if
// the option is too short for one.
func (it *NDPOptions) LinkLayer() (MAC, bool) {
	if len(it.cur) < NDPLinkLayerOptionSize {
		return MAC{}, false
	}
	return MAC(it.cur[ndpOptionData : ndpOptionData+MACSize]), true
}
