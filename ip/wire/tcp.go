package wire

import "encoding/binary"

// TCP header sizes.
const (
	TCPMinSize = 20
	TCPMaxSize = 60
)

// TCP header (RFC 9293 section 3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |     |N|C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrv|S|W|C|R|C|S|S|Y|I|            Window             |
//	|       |     | |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	tcpSrcPort    = 0
	tcpDstPort    = 2
	tcpSeq        = 4
	tcpAck        = 8
	tcpDataOffset = 12 // data offset, reserved bits and NS; the flags word
	tcpWindow     = 14
	tcpChecksum   = 16
	tcpUrgent     = 18
)

// TCP flags, as they sit in the header's 13th byte (CWR..FIN), plus NS.
const (
	TCPFlagFIN uint16 = 1 << iota
	TCPFlagSYN
	TCPFlagRST
	TCPFlagPSH
	TCPFlagACK
	TCPFlagURG
	TCPFlagECE
	TCPFlagCWR
	TCPFlagNS
)

// TCP option kinds.
const (
	TCPOptionEnd           uint8 = 0
	TCPOptionNOP           uint8 = 1
	TCPOptionMSS           uint8 = 2
	TCPOptionWindowScale   uint8 = 3
	TCPOptionSACKPermitted uint8 = 4
	TCPOptionSACK          uint8 = 5
	TCPOptionTimestamps    uint8 = 8
)

// TCP is a view of a TCP segment (RFC 9293), header and payload.
type TCP []byte

// TCPFields are the fields Encode writes. DataOffset is derived from
// Options (see TCPOptions.Encode), whose length must be a multiple of 4 and
// at most 40. The checksum is left zero.
type TCPFields struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint16
	Window           uint16
	Urgent           uint16
	Options          []byte
}

// ParseTCP checks b as a TCP segment: data offset and the options'
// encoding. The view is the whole of b (TCP has no length field).
func ParseTCP(b []byte) (TCP, error) {
	var fe FieldError
	if !checkTCP(b, &fe) {
		return nil, heapErr(&fe)
	}
	return TCP(b), nil
}

func checkTCP(b []byte, e *FieldError) bool {
	var o TCPOptions
	return checkTCPOptions(b, &o, e)
}

// checkTCPOptions checks b as a TCP segment and decodes its options into o.
func checkTCPOptions(b []byte, o *TCPOptions, e *FieldError) bool {
	if len(b) < TCPMinSize {
		return e.short("tcp", "header", TCPMinSize, len(b))
	}
	off := int(b[tcpDataOffset]>>4) * 4
	if off < TCPMinSize {
		return e.fail("tcp", "data_offset", Invalid, off, TCPMinSize)
	}
	if off > len(b) {
		return e.short("tcp", "data_offset", off, len(b))
	}
	return o.parse(b[TCPMinSize:off], e)
}

// SrcPort returns the source port.
func (t TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(t[tcpSrcPort:]) }

// DstPort returns the destination port.
func (t TCP) DstPort() uint16 { return binary.BigEndian.Uint16(t[tcpDstPort:]) }

// Seq returns the sequence number.
func (t TCP) Seq() uint32 { return binary.BigEndian.Uint32(t[tcpSeq:]) }

// Ack returns the acknowledgment number.
func (t TCP) Ack() uint32 { return binary.BigEndian.Uint32(t[tcpAck:]) }

// DataOffset returns the header length in bytes.
func (t TCP) DataOffset() int { return int(t[tcpDataOffset]>>4) * 4 }

// Flags returns the nine flag bits (TCPFlagFIN ... TCPFlagNS).
func (t TCP) Flags() uint16 { return binary.BigEndian.Uint16(t[tcpDataOffset:]) & 0x1ff }

// Window returns the window field (unscaled).
func (t TCP) Window() uint16 { return binary.BigEndian.Uint16(t[tcpWindow:]) }

// Checksum returns the checksum field.
func (t TCP) Checksum() uint16 { return binary.BigEndian.Uint16(t[tcpChecksum:]) }

// Urgent returns the urgent pointer.
func (t TCP) Urgent() uint16 { return binary.BigEndian.Uint16(t[tcpUrgent:]) }

// Options returns the options bytes.
func (t TCP) Options() []byte { return t[TCPMinSize:t.DataOffset()] }

// Payload returns the data after the header.
func (t TCP) Payload() []byte { return t[t.DataOffset():] }

// ParseOptions decodes the options into o (zero-alloc). The segment must
// have been checked by ParseTCP.
func (t TCP) ParseOptions(o *TCPOptions) error {
	var fe FieldError
	if !o.parse(t.Options(), &fe) {
		return heapErr(&fe)
	}
	return nil
}

// SetSrcPort sets the source port.
func (t TCP) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(t[tcpSrcPort:], p) }

// SetDstPort sets the destination port.
func (t TCP) SetDstPort(p uint16) { binary.BigEndian.PutUint16(t[tcpDstPort:], p) }

// SetSeq sets the sequence number.
func (t TCP) SetSeq(v uint32) { binary.BigEndian.PutUint32(t[tcpSeq:], v) }

// SetAck sets the acknowledgment number.
func (t TCP) SetAck(v uint32) { binary.BigEndian.PutUint32(t[tcpAck:], v) }

// SetFlags sets the nine flag bits, leaving the data offset and the
// reserved bits as they are.
func (t TCP) SetFlags(f uint16) {
	binary.BigEndian.PutUint16(t[tcpDataOffset:], binary.BigEndian.Uint16(t[tcpDataOffset:])&^0x1ff|f&0x1ff)
}

// SetWindow sets the window field.
func (t TCP) SetWindow(w uint16) { binary.BigEndian.PutUint16(t[tcpWindow:], w) }

// SetChecksum sets the checksum field.
func (t TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(t[tcpChecksum:], c) }

// SetUrgent sets the urgent pointer.
func (t TCP) SetUrgent(u uint16) { binary.BigEndian.PutUint16(t[tcpUrgent:], u) }

// Encode writes the header described by f (20+len(f.Options) bytes) with a
// zero checksum.
func (t TCP) Encode(f *TCPFields) {
	hl := TCPMinSize + len(f.Options)
	_ = t[hl-1]
	t.SetSrcPort(f.SrcPort)
	t.SetDstPort(f.DstPort)
	t.SetSeq(f.Seq)
	t.SetAck(f.Ack)
	binary.BigEndian.PutUint16(t[tcpDataOffset:], uint16(hl/4)<<12|f.Flags&0x1ff)
	t.SetWindow(f.Window)
	t.SetChecksum(0)
	t.SetUrgent(f.Urgent)
	copy(t[TCPMinSize:hl], f.Options)
}

// CalculateChecksum returns the checksum of the whole segment given the
// pseudo-header sum, as if the checksum field were zero.
func (t TCP) CalculateChecksum(pseudo uint16) uint16 {
	return ^Combine(Sum(t[:tcpChecksum], pseudo), Sum(t[tcpUrgent:], 0))
}

// ChecksumValid reports whether the checksum verifies.
func (t TCP) ChecksumValid(pseudo uint16) bool { return Sum(t, pseudo) == 0xffff }

// SACKBlock is one selective acknowledgment block: [Left, Right).
type SACKBlock struct{ Left, Right uint32 }

// TCPOptions are the options this package decodes. Unknown options are
// skipped; Has* report presence.
type TCPOptions struct {
	HasMSS         bool
	MSS            uint16
	HasWindowScale bool
	WindowScale    uint8
	SACKPermitted  bool
	NumSACK        int          // blocks used in SACK
	SACK           [4]SACKBlock // at most 4 fit in 40 bytes
	HasTimestamps  bool
	TSVal, TSEcr   uint32
}

func (o *TCPOptions) parse(b []byte, e *FieldError) bool {
	*o = TCPOptions{}
	for i := 0; i < len(b); {
		kind := b[i]
		if kind == TCPOptionEnd {
			return true
		}
		if kind == TCPOptionNOP {
			i++
			continue
		}
		if i+2 > len(b) {
			return e.short("tcp", "option_length", i+2, len(b))
		}
		l := int(b[i+1])
		if l < 2 {
			return e.fail("tcp", "option_length", Invalid, l, 2)
		}
		if i+l > len(b) {
			return e.short("tcp", "option_length", i+l, len(b))
		}
		d := b[i+2 : i+l]
		switch kind {
		case TCPOptionMSS:
			if l != 4 {
				return e.fail("tcp", "mss_length", Invalid, l, 4)
			}
			o.HasMSS, o.MSS = true, binary.BigEndian.Uint16(d)
		case TCPOptionWindowScale:
			if l != 3 {
				return e.fail("tcp", "window_scale_length", Invalid, l, 3)
			}
			o.HasWindowScale, o.WindowScale = true, d[0]
		case TCPOptionSACKPermitted:
			if l != 2 {
				return e.fail("tcp", "sack_permitted_length", Invalid, l, 2)
			}
			o.SACKPermitted = true
		case TCPOptionSACK:
			if (l-2)%8 != 0 || l == 2 {
				return e.fail("tcp", "sack_length", Invalid, l, 34)
			}
			o.NumSACK = (l - 2) / 8 // at most 4: l <= 40
			for j := 0; j < o.NumSACK; j++ {
				o.SACK[j] = SACKBlock{binary.BigEndian.Uint32(d[8*j:]), binary.BigEndian.Uint32(d[8*j+4:])}
			}
		case TCPOptionTimestamps:
			if l != 10 {
				return e.fail("tcp", "timestamps_length", Invalid, l, 10)
			}
			o.HasTimestamps = true
			o.TSVal, o.TSEcr = binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:])
		}
		i += l
	}
	return true
}

// Encode writes o into b in the order MSS, SACK-permitted, timestamps, NOP,
// window scale, SACK blocks (Linux's layout: NOPs align each option so that
// the total is a multiple of 4). It returns the length written, or 0 if b
// is too short, NumSACK is out of range or the options exceed 40 bytes.
func (o *TCPOptions) Encode(b []byte) int {
	n := 0
	if o.HasMSS {
		n += 4
	}
	if o.SACKPermitted && o.HasTimestamps {
		n += 12
	} else if o.SACKPermitted {
		n += 4
	} else if o.HasTimestamps {
		n += 12
	}
	if o.HasWindowScale {
		n += 4
	}
	if o.NumSACK > 0 {
		n += 4 + 8*o.NumSACK
	}
	if n > 40 || n > len(b) || o.NumSACK > 4 || o.NumSACK < 0 {
		return 0
	}
	i := 0
	if o.HasMSS {
		b[0], b[1] = TCPOptionMSS, 4
		binary.BigEndian.PutUint16(b[2:], o.MSS)
		i = 4
	}
	switch {
	case o.SACKPermitted && o.HasTimestamps:
		b[i], b[i+1] = TCPOptionSACKPermitted, 2
		i += 2
		i = putTimestamps(b, i, o)
	case o.SACKPermitted:
		b[i], b[i+1], b[i+2], b[i+3] = TCPOptionNOP, TCPOptionNOP, TCPOptionSACKPermitted, 2
		i += 4
	case o.HasTimestamps:
		b[i], b[i+1] = TCPOptionNOP, TCPOptionNOP
		i = putTimestamps(b, i+2, o)
	}
	if o.HasWindowScale {
		b[i], b[i+1], b[i+2], b[i+3] = TCPOptionNOP, TCPOptionWindowScale, 3, o.WindowScale
		i += 4
	}
	if o.NumSACK > 0 {
		b[i], b[i+1], b[i+2], b[i+3] = TCPOptionNOP, TCPOptionNOP, TCPOptionSACK, uint8(2+8*o.NumSACK)
		i += 4
		for j := 0; j < o.NumSACK; j++ {
			binary.BigEndian.PutUint32(b[i:], o.SACK[j].Left)
			binary.BigEndian.PutUint32(b[i+4:], o.SACK[j].Right)
			i += 8
		}
	}
	return i
}

func putTimestamps(b []byte, i int, o *TCPOptions) int {
	b[i], b[i+1] = TCPOptionTimestamps, 10
	binary.BigEndian.PutUint32(b[i+2:], o.TSVal)
	binary.BigEndian.PutUint32(b[i+6:], o.TSEcr)
	return i + 10
}
