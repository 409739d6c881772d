package wire

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers this package decodes.
const (
	ProtoHopByHop uint8 = 0
	ProtoICMPv4   uint8 = 1
	ProtoTCP      uint8 = 6
	ProtoUDP      uint8 = 17
	ProtoRouting  uint8 = 43
	ProtoFragment uint8 = 44
	ProtoICMPv6   uint8 = 58
	ProtoNoNext   uint8 = 59
	ProtoDestOpts uint8 = 60
)

// IPv4 header sizes.
const (
	IPv4MinSize = 20
	IPv4MaxSize = 60
)

// IPv4 header (RFC 791 section 3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ipv4VersIHL      = 0
	ipv4TOS          = 1
	ipv4TotalLen     = 2
	ipv4ID           = 4
	ipv4FlagsFragOff = 6
	ipv4TTL          = 8
	ipv4Protocol     = 9
	ipv4Checksum     = 10
	ipv4Src          = 12
	ipv4Dst          = 16
)

// IPv4 flag bits as they sit in the flags/fragment-offset word.
const (
	IPv4DontFragment  uint16 = 0x4000
	IPv4MoreFragments uint16 = 0x2000
)

// IPv4 is a view of an IPv4 packet (RFC 791), header and payload.
type IPv4 []byte

// IPv4Fields are the fields Encode writes. IHL is derived from Options,
// whose length must be a multiple of 4 and at most 40.
type IPv4Fields struct {
	TOS         uint8
	TotalLength uint16
	ID          uint16
	Flags       uint16 // IPv4DontFragment, IPv4MoreFragments
	FragOffset  uint16 // in bytes, a multiple of 8
	TTL         uint8
	Protocol    uint8
	Src, Dst    netip.Addr
	Options     []byte
}

// ParseIPv4 checks b as an IPv4 packet: version, header length, total
// length against the buffer, the options' encoding. It does not verify the
// header checksum (see IPv4.ChecksumValid). The view is cut to TotalLength,
// dropping any Ethernet padding.
func ParseIPv4(b []byte) (IPv4, error) {
	var fe FieldError
	h, ok := checkIPv4(b, &fe)
	if !ok {
		return nil, heapErr(&fe)
	}
	return h, nil
}

func checkIPv4(b []byte, e *FieldError) (IPv4, bool) {
	if len(b) < IPv4MinSize {
		return nil, e.short("ipv4", "header", IPv4MinSize, len(b))
	}
	if v := b[ipv4VersIHL] >> 4; v != 4 {
		return nil, e.fail("ipv4", "version", Invalid, int(v), 4)
	}
	hl := int(b[ipv4VersIHL]&0xf) * 4
	if hl < IPv4MinSize {
		return nil, e.fail("ipv4", "ihl", Invalid, hl, IPv4MinSize)
	}
	tl := int(binary.BigEndian.Uint16(b[ipv4TotalLen:]))
	if tl < hl {
		return nil, e.fail("ipv4", "total_length", Invalid, tl, hl)
	}
	if tl > len(b) {
		return nil, e.short("ipv4", "total_length", tl, len(b))
	}
	h := IPv4(b[:tl])
	if hl > IPv4MinSize && !checkIPv4Options(h[IPv4MinSize:hl], e) {
		return nil, false
	}
	return h, true
}

func checkIPv4Options(o []byte, e *FieldError) bool {
	for i := 0; i < len(o); {
		switch o[i] {
		case IPv4OptionEnd:
			return true
		case IPv4OptionNOP:
			i++
			continue
		}
		if i+1 >= len(o) {
			return e.short("ipv4", "option_length", i+2, len(o))
		}
		l := int(o[i+1])
		if l < 2 {
			return e.fail("ipv4", "option_length", Invalid, l, 2)
		}
		if i+l > len(o) {
			return e.short("ipv4", "option_length", i+l, len(o))
		}
		i += l
	}
	return true
}

// Version returns the version field.
func (h IPv4) Version() uint8 { return h[ipv4VersIHL] >> 4 }

// HeaderLength returns the header length in bytes (IHL * 4).
func (h IPv4) HeaderLength() int { return int(h[ipv4VersIHL]&0xf) * 4 }

// TOS returns the type-of-service byte (DSCP and ECN).
func (h IPv4) TOS() uint8 { return h[ipv4TOS] }

// TotalLength returns the total length field.
func (h IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(h[ipv4TotalLen:]) }

// ID returns the identification field.
func (h IPv4) ID() uint16 { return binary.BigEndian.Uint16(h[ipv4ID:]) }

// Flags returns the flag bits (IPv4DontFragment, IPv4MoreFragments) in
// place.
func (h IPv4) Flags() uint16 { return binary.BigEndian.Uint16(h[ipv4FlagsFragOff:]) & 0xe000 }

// FragmentOffset returns the fragment offset in bytes.
func (h IPv4) FragmentOffset() uint16 { return binary.BigEndian.Uint16(h[ipv4FlagsFragOff:]) << 3 }

// MoreFragments reports whether the MF flag is set.
func (h IPv4) MoreFragments() bool { return h[ipv4FlagsFragOff]&0x20 != 0 }

// IsFragment reports whether the packet is a fragment (MF set or a nonzero
// offset).
func (h IPv4) IsFragment() bool { return binary.BigEndian.Uint16(h[ipv4FlagsFragOff:])&0x3fff != 0 }

// TTL returns the time to live.
func (h IPv4) TTL() uint8 { return h[ipv4TTL] }

// Protocol returns the protocol field.
func (h IPv4) Protocol() uint8 { return h[ipv4Protocol] }

// Checksum returns the header checksum field.
func (h IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(h[ipv4Checksum:]) }

// Src returns the source address.
func (h IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(h[ipv4Src : ipv4Src+4])) }

// Dst returns the destination address.
func (h IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(h[ipv4Dst : ipv4Dst+4])) }

// Options returns the options bytes (empty when IHL is 5).
func (h IPv4) Options() []byte { return h[IPv4MinSize:h.HeaderLength()] }

// Payload returns the bytes after the header up to the total length.
func (h IPv4) Payload() []byte {
	tl := int(h.TotalLength())
	if tl > len(h) {
		tl = len(h)
	}
	return h[h.HeaderLength():tl]
}

// ChecksumValid reports whether the header checksum verifies.
func (h IPv4) ChecksumValid() bool { return Checksum(h[:h.HeaderLength()]) == 0 }

// PseudoHeaderSum returns the pseudo-header sum for the payload's protocol
// and length, to seed a TCP or UDP checksum.
func (h IPv4) PseudoHeaderSum() uint16 {
	return pseudoSum(h[ipv4Src:ipv4Dst+4], h.Protocol(), len(h.Payload()))
}

// SetTOS sets the type-of-service byte.
func (h IPv4) SetTOS(v uint8) { h[ipv4TOS] = v }

// SetTotalLength sets the total length field.
func (h IPv4) SetTotalLength(v uint16) { binary.BigEndian.PutUint16(h[ipv4TotalLen:], v) }

// SetID sets the identification field.
func (h IPv4) SetID(v uint16) { binary.BigEndian.PutUint16(h[ipv4ID:], v) }

// SetFlagsFragmentOffset sets the flags and the fragment offset (in bytes,
// a multiple of 8).
func (h IPv4) SetFlagsFragmentOffset(flags, offset uint16) {
	binary.BigEndian.PutUint16(h[ipv4FlagsFragOff:], flags&0xe000|offset>>3)
}

// SetTTL sets the time to live.
func (h IPv4) SetTTL(v uint8) { h[ipv4TTL] = v }

// SetProtocol sets the protocol field.
func (h IPv4) SetProtocol(v uint8) { h[ipv4Protocol] = v }

// SetChecksum sets the header checksum field.
func (h IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(h[ipv4Checksum:], v) }

// SetSrc sets the source address (IPv4).
func (h IPv4) SetSrc(a netip.Addr) { b := a.As4(); copy(h[ipv4Src:ipv4Src+4], b[:]) }

// SetDst sets the destination address (IPv4).
func (h IPv4) SetDst(a netip.Addr) { b := a.As4(); copy(h[ipv4Dst:ipv4Dst+4], b[:]) }

// UpdateChecksum recomputes the header checksum.
func (h IPv4) UpdateChecksum() {
	h.SetChecksum(0)
	h.SetChecksum(Checksum(h[:h.HeaderLength()]))
}

// Encode writes the header described by f into h (which must hold
// 20+len(f.Options) bytes) and computes its checksum.
func (h IPv4) Encode(f *IPv4Fields) {
	hl := IPv4MinSize + len(f.Options)
	_ = h[hl-1]
	h[ipv4VersIHL] = 0x40 | uint8(hl/4)
	h[ipv4TOS] = f.TOS
	h.SetTotalLength(f.TotalLength)
	h.SetID(f.ID)
	h.SetFlagsFragmentOffset(f.Flags, f.FragOffset)
	h[ipv4TTL] = f.TTL
	h[ipv4Protocol] = f.Protocol
	h.SetSrc(f.Src)
	h.SetDst(f.Dst)
	copy(h[IPv4MinSize:hl], f.Options)
	h.UpdateChecksum()
}

// IPv4 option types.
const (
	IPv4OptionEnd         uint8 = 0
	IPv4OptionNOP         uint8 = 1
	IPv4OptionRecordRoute uint8 = 7
	IPv4OptionTimestamp   uint8 = 68
	IPv4OptionRouterAlert uint8 = 148
)

// IPv4Options iterates over options of a header checked by ParseIPv4:
//
//	for it := h.OptionIter(); it.Next(); { use(it.Type(), it.Data()) }
type IPv4Options struct {
	b   []byte
	cur []byte
}

// OptionIter returns an iterator over h's options.
func (h IPv4) OptionIter() IPv4Options { return IPv4Options{b: h.Options()} }

// Next advances to the next option other than NOP, returning false at the
// end-of-list option, at the end, or on a malformed option.
func (it *IPv4Options) Next() bool {
	for len(it.b) > 0 {
		switch it.b[0] {
		case IPv4OptionEnd:
			it.b = nil
			return false
		case IPv4OptionNOP:
			it.b = it.b[1:]
			continue
		}
		if len(it.b) < 2 || it.b[1] < 2 || int(it.b[1]) > len(it.b) {
			it.b = nil
			return false
		}
		it.cur, it.b = it.b[:it.b[1]], it.b[it.b[1]:]
		return true
	}
	return false
}

// Type returns the current option's type.
func (it *IPv4Options) Type() uint8 { return it.cur[0] }

// Data returns the current option's data (after type and length).
func (it *IPv4Options) Data() []byte { return it.cur[2:] }
