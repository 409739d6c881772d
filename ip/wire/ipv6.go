package wire

import (
	"encoding/binary"
	"net/netip"
)

// IPv6 sizes.
const (
	IPv6Size         = 40 // fixed header
	IPv6FragmentSize = 8  // fragment extension header
	MaxIPv6Ext       = 8  // extension headers Decode records before refusing
)

// IPv6 fixed header (RFC 8200 section 3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |           Flow Label                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                         Source Address                        +
//	|                          (16 bytes)                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                      Destination Address                      +
//	|                          (16 bytes)                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ipv6VersTCFL   = 0
	ipv6PayloadLen = 4
	ipv6NextHeader = 6
	ipv6HopLimit   = 7
	ipv6Src        = 8
	ipv6Dst        = 24
)

// Extension headers (RFC 8200 sections 4.3-4.6): hop-by-hop and
// destination options, routing, and the fragment header:
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  |  Hdr Ext Len  |  Options (or Routing Type,    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  Segments Left, data) ...     |
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Identification                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	extNextHeader       = 0
	extHdrLen           = 1
	extOptions          = 2
	routingType         = 2
	routingSegmentsLeft = 3
	routingData         = 4
	fragNextHeader      = 0
	fragReserved        = 1
	fragOffsetFlags     = 2
	fragID              = 4
)

// IPv6 is a view of an IPv6 packet (RFC 8200): fixed header, extension
// headers and upper-layer data.
type IPv6 []byte

// IPv6Fields are the fields Encode writes.
type IPv6Fields struct {
	TrafficClass  uint8
	FlowLabel     uint32 // 20 bits
	PayloadLength uint16
	NextHeader    uint8
	HopLimit      uint8
	Src, Dst      netip.Addr
}

// ParseIPv6 checks b as an IPv6 packet: version and payload length against
// the buffer. The view is cut to 40+PayloadLength bytes. It does not walk
// the extension headers (see IPv6Chain.Parse). A jumbogram (payload length
// 0 with a hop-by-hop jumbo option) is refused as Unsupported.
func ParseIPv6(b []byte) (IPv6, error) {
	var fe FieldError
	h, ok := checkIPv6(b, &fe)
	if !ok {
		return nil, heapErr(&fe)
	}
	return h, nil
}

func checkIPv6(b []byte, e *FieldError) (IPv6, bool) {
	if len(b) < IPv6Size {
		return nil, e.short("ipv6", "header", IPv6Size, len(b))
	}
	if v := b[ipv6VersTCFL] >> 4; v != 6 {
		return nil, e.fail("ipv6", "version", Invalid, int(v), 6)
	}
	pl := int(binary.BigEndian.Uint16(b[ipv6PayloadLen:]))
	if pl == 0 && b[ipv6NextHeader] == ProtoHopByHop {
		return nil, e.fail("ipv6", "payload_length", Unsupported, 0, 1)
	}
	if IPv6Size+pl > len(b) {
		return nil, e.short("ipv6", "payload_length", IPv6Size+pl, len(b))
	}
	return IPv6(b[:IPv6Size+pl]), true
}

// TrafficClass returns the traffic class.
func (h IPv6) TrafficClass() uint8 { return uint8(binary.BigEndian.Uint16(h[ipv6VersTCFL:]) >> 4) }

// FlowLabel returns the 20-bit flow label.
func (h IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(h[ipv6VersTCFL:]) & 0xfffff }

// PayloadLength returns the payload length field.
func (h IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(h[ipv6PayloadLen:]) }

// NextHeader returns the next header field of the fixed header.
func (h IPv6) NextHeader() uint8 { return h[ipv6NextHeader] }

// HopLimit returns the hop limit.
func (h IPv6) HopLimit() uint8 { return h[ipv6HopLimit] }

// Src returns the source address.
func (h IPv6) Src() netip.Addr { return netip.AddrFrom16([16]byte(h[ipv6Src : ipv6Src+16])) }

// Dst returns the destination address.
func (h IPv6) Dst() netip.Addr { return netip.AddrFrom16([16]byte(h[ipv6Dst : ipv6Dst+16])) }

// Payload returns everything after the fixed header (extension headers
// included), up to the payload length.
func (h IPv6) Payload() []byte {
	n := IPv6Size + int(h.PayloadLength())
	if n > len(h) {
		n = len(h)
	}
	return h[IPv6Size:n]
}

// PseudoHeaderSum returns the pseudo-header sum (RFC 8200 section 8.1) for
// upper-layer protocol proto and length bytes of it, to seed a TCP, UDP or
// ICMPv6 checksum.
func (h IPv6) PseudoHeaderSum(proto uint8, length int) uint16 {
	return pseudoSum(h[ipv6Src:ipv6Dst+16], proto, length)
}

// SetTrafficClass sets the traffic class.
func (h IPv6) SetTrafficClass(tc uint8) {
	v := binary.BigEndian.Uint16(h[ipv6VersTCFL:])&0xf00f | uint16(tc)<<4
	binary.BigEndian.PutUint16(h[ipv6VersTCFL:], v)
}

// SetFlowLabel sets the flow label (20 bits).
func (h IPv6) SetFlowLabel(l uint32) {
	v := binary.BigEndian.Uint32(h[ipv6VersTCFL:])&0xfff00000 | l&0xfffff
	binary.BigEndian.PutUint32(h[ipv6VersTCFL:], v)
}

// SetPayloadLength sets the payload length.
func (h IPv6) SetPayloadLength(n uint16) { binary.BigEndian.PutUint16(h[ipv6PayloadLen:], n) }

// SetNextHeader sets the fixed header's next header.
func (h IPv6) SetNextHeader(p uint8) { h[ipv6NextHeader] = p }

// SetHopLimit sets the hop limit.
func (h IPv6) SetHopLimit(v uint8) { h[ipv6HopLimit] = v }

// SetSrc sets the source address (IPv6).
func (h IPv6) SetSrc(a netip.Addr) { b := a.As16(); copy(h[ipv6Src:ipv6Src+16], b[:]) }

// SetDst sets the destination address (IPv6).
func (h IPv6) SetDst(a netip.Addr) { b := a.As16(); copy(h[ipv6Dst:ipv6Dst+16], b[:]) }

// Encode writes the fixed header described by f into h[:40].
func (h IPv6) Encode(f *IPv6Fields) {
	_ = h[IPv6Size-1]
	binary.BigEndian.PutUint32(h[ipv6VersTCFL:], 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0xfffff)
	h.SetPayloadLength(f.PayloadLength)
	h[ipv6NextHeader] = f.NextHeader
	h[ipv6HopLimit] = f.HopLimit
	h.SetSrc(f.Src)
	h.SetDst(f.Dst)
}

// IPv6Ext is a view of one extension header: hop-by-hop options, routing,
// fragment or destination options. All share the next-header byte first;
// all but the fragment header carry their length (in 8-byte units, not
// counting the first 8) second.
type IPv6Ext []byte

// NextHeader returns the header's next header field.
func (x IPv6Ext) NextHeader() uint8 { return x[extNextHeader] }

// Len returns the header's length in bytes as the view holds it.
func (x IPv6Ext) Len() int { return len(x) }

// Options returns the TLV options of a hop-by-hop or destination options
// header (everything after the first two bytes).
func (x IPv6Ext) Options() []byte { return x[extOptions:] }

// RoutingType returns a routing header's routing type.
func (x IPv6Ext) RoutingType() uint8 { return x[routingType] }

// SegmentsLeft returns a routing header's segments left.
func (x IPv6Ext) SegmentsLeft() uint8 { return x[routingSegmentsLeft] }

// RoutingData returns a routing header's type-specific data.
func (x IPv6Ext) RoutingData() []byte { return x[routingData:] }

// SetNextHeader sets the next header field.
func (x IPv6Ext) SetNextHeader(p uint8) { x[extNextHeader] = p }

// IPv6Fragment is a view of a fragment extension header.
type IPv6Fragment []byte

// NextHeader returns the next header field.
func (f IPv6Fragment) NextHeader() uint8 { return f[fragNextHeader] }

// FragmentOffset returns the offset in bytes.
func (f IPv6Fragment) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(f[fragOffsetFlags:]) &^ 7
}

// MoreFragments reports whether the M flag is set.
func (f IPv6Fragment) MoreFragments() bool { return f[fragOffsetFlags+1]&1 != 0 }

// ID returns the identification.
func (f IPv6Fragment) ID() uint32 { return binary.BigEndian.Uint32(f[fragID:]) }

// Encode writes a fragment header: next header, offset (bytes, a multiple
// of 8), the M flag and the identification.
func (f IPv6Fragment) Encode(next uint8, offset uint16, more bool, id uint32) {
	_ = f[IPv6FragmentSize-1]
	f[fragNextHeader], f[fragReserved] = next, 0
	v := offset &^ 7
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(f[fragOffsetFlags:], v)
	binary.BigEndian.PutUint32(f[fragID:], id)
}

// IPv6 option types (hop-by-hop and destination options).
const (
	IPv6OptionPad1        uint8 = 0
	IPv6OptionPadN        uint8 = 1
	IPv6OptionRouterAlert uint8 = 5
)

// EncodeIPv6Options writes a hop-by-hop or destination options header with
// next header next and the given TLV options, padded with Pad1/PadN to a
// multiple of 8 bytes, into b. It returns the header's length, or 0 if b is
// too short or the header would exceed 2048 bytes.
func EncodeIPv6Options(b []byte, next uint8, options []byte) int {
	n := (2 + len(options) + 7) &^ 7
	if n > len(b) || n > 2048 {
		return 0
	}
	b[extNextHeader] = next
	b[extHdrLen] = uint8(n/8 - 1)
	copy(b[extOptions:], options)
	pad := n - 2 - len(options)
	p := b[2+len(options) : n]
	switch {
	case pad == 1:
		p[0] = IPv6OptionPad1
	case pad >= 2:
		p[0], p[1] = IPv6OptionPadN, uint8(pad-2)
		clear(p[2:])
	}
	return n
}

// EncodeIPv6Routing writes a routing header (type, segments left,
// type-specific data whose length plus 4 must be a multiple of 8) into b
// and returns its length, or 0 if b is too short or data is misaligned.
func EncodeIPv6Routing(b []byte, next, typ, segmentsLeft uint8, data []byte) int {
	n := 4 + len(data)
	if n%8 != 0 || n > len(b) || n > 2048 {
		return 0
	}
	b[extNextHeader], b[extHdrLen], b[routingType], b[routingSegmentsLeft] = next, uint8(n/8-1), typ, segmentsLeft
	copy(b[routingData:], data)
	return n
}

// IPv6Chain is an IPv6 packet's extension-header chain as IPv6Chain.Parse
// finds it.
type IPv6Chain struct {
	Headers  [MaxIPv6Ext]IPv6Ext // in order
	Types    [MaxIPv6Ext]uint8   // each header's protocol number
	N        int                 // headers used
	Fragment IPv6Fragment        // nil if the packet is not a fragment
	Upper    uint8               // upper-layer protocol (or ProtoNoNext)
	Payload  []byte              // upper-layer bytes (or fragment data)
}

// Parse walks h's extension headers. h must have been checked by ParseIPv6.
func (c *IPv6Chain) Parse(h IPv6) error {
	var fe FieldError
	if !c.parse(h, &fe) {
		return heapErr(&fe)
	}
	return nil
}

func (c *IPv6Chain) parse(h IPv6, e *FieldError) bool {
	c.N = 0
	c.Fragment = nil
	next := h.NextHeader()
	b := h[IPv6Size:]
	for {
		switch next {
		case ProtoHopByHop, ProtoRouting, ProtoDestOpts, ProtoFragment:
		default:
			c.Upper = next
			c.Payload = b
			return true
		}
		if next == ProtoHopByHop && c.N > 0 {
			return e.fail("ipv6", "hop_by_hop_position", Invalid, c.N, 0)
		}
		if c.N == MaxIPv6Ext {
			return e.fail("ipv6", "extension_headers", Unsupported, c.N+1, MaxIPv6Ext)
		}
		if len(b) < 8 {
			return e.short(extName(next), "header", 8, len(b))
		}
		n := 8
		if next != ProtoFragment {
			n = (int(b[extHdrLen]) + 1) * 8
			if n > len(b) {
				return e.short(extName(next), "hdr_ext_len", n, len(b))
			}
		}
		x := IPv6Ext(b[:n])
		switch next {
		case ProtoHopByHop, ProtoDestOpts:
			if !checkIPv6Options(x[extOptions:], extName(next), e) {
				return false
			}
		case ProtoFragment:
			if c.Fragment != nil {
				return e.fail("ipv6_fragment", "header", Invalid, 2, 1)
			}
			c.Fragment = IPv6Fragment(x)
		}
		c.Headers[c.N], c.Types[c.N] = x, next
		c.N++
		next = x[extNextHeader]
		b = b[n:]
		if c.Fragment != nil && c.Fragment.FragmentOffset() != 0 {
			// A later fragment: what follows is data, not headers.
			c.Upper = next
			c.Payload = b
			return true
		}
	}
}

func extName(p uint8) string {
	switch p {
	case ProtoHopByHop:
		return "ipv6_hop_by_hop"
	case ProtoRouting:
		return "ipv6_routing"
	case ProtoFragment:
		return "ipv6_fragment"
	}
	return "ipv6_destination_options"
}

func checkIPv6Options(o []byte, layer string, e *FieldError) bool {
	for i := 0; i < len(o); {
		if o[i] == IPv6OptionPad1 {
			i++
			continue
		}
		if i+2 > len(o) {
			return e.short(layer, "option_length", i+2, len(o))
		}
		if end := i + 2 + int(o[i+1]); end > len(o) {
			return e.short(layer, "option_length", end, len(o))
		} else {
			i = end
		}
	}
	return true
}

// IPv6Options iterates over the TLV options of a hop-by-hop or destination
// options header, skipping Pad1 and PadN.
type IPv6Options struct {
	b   []byte
	cur []byte
}

// OptionIter returns an iterator over x's options.
func (x IPv6Ext) OptionIter() IPv6Options { return IPv6Options{b: x.Options()} }

// Next advances to the next option other than padding; false at the end or
// on a malformed option.
func (it *IPv6Options) Next() bool {
	for len(it.b) > 0 {
		if it.b[0] == IPv6OptionPad1 {
			it.b = it.b[1:]
			continue
		}
		if len(it.b) < 2 || 2+int(it.b[1]) > len(it.b) {
			it.b = nil
			return false
		}
		n := 2 + int(it.b[1])
		it.cur, it.b = it.b[:n], it.b[n:]
		if it.cur[0] == IPv6OptionPadN {
			continue
		}
		return true
	}
	return false
}

// Type returns the current option's type.
func (it *IPv6Options) Type() uint8 { return it.cur[0] }

// Data returns the current option's data.
func (it *IPv6Options) Data() []byte { return it.cur[2:] }
