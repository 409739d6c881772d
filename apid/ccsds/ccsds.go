// Package ccsds is the CCSDS Space Packet primary header (CCSDS 133.0-B-2)
// and the layouts in which a ground link carries frames as Space Packets
// (Layout, docs/ground.md): Plain (the frame's payload as user data),
// CFS (cFE's telemetry and command secondary headers, the command checksum
// checked) and Spacenet (the frame's own 8-octet header inside: Wrap,
// Unwrap; spec apid-plane.md section 4).
//
// Like package frame it works on caller-owned buffers and does not allocate
// on its success paths: Wrap writes into a caller's []byte, Unwrap into a
// caller's *frame.Frame.
//
// It is not a CCSDS stack: no segmentation, no transfer frames, no
// secondary headers but cFE's. It carries exactly one whole frame per
// packet and refuses anything else with a distinct error.
package ccsds

import (
	"encoding/binary"
	"errors"
	"fmt"

	"spacenet/apid/frame"
)

// Sizes, in octets.
const (
	HeaderSize    = 6                       // the primary header
	MaxPacketSize = HeaderSize + frame.Size // the largest wrapped frame (6 + 8 + 248)
	SeqCountMask  = 0x3FFF                  // the 14 bits of the sequence count
	NumSeqCounts  = SeqCountMask + 1        // the sequence count wraps here (16384)
)

// PacketType is the primary header's 1-bit packet type.
type PacketType uint8

// The two packet types.
const (
	TM PacketType = 0 // telemetry
	TC PacketType = 1 // telecommand
)

// String returns "TM", "TC" or "PacketType(n)".
func (t PacketType) String() string {
	switch t {
	case TM:
		return "TM"
	case TC:
		return "TC"
	}
	return fmt.Sprintf("PacketType(%d)", uint8(t))
}

// SeqFlags is the primary header's 2-bit sequence flags field.
type SeqFlags uint8

// The four sequence flags values.
const (
	Continuation SeqFlags = 0 // a middle segment
	First        SeqFlags = 1 // the first segment
	Last         SeqFlags = 2 // the last segment
	Unsegmented  SeqFlags = 3 // a whole user data unit
)

// String returns the flags' name or "SeqFlags(n)".
func (s SeqFlags) String() string {
	switch s {
	case Continuation:
		return "Continuation"
	case First:
		return "First"
	case Last:
		return "Last"
	case Unsegmented:
		return "Unsegmented"
	}
	return fmt.Sprintf("SeqFlags(%d)", uint8(s))
}

// Header is a Space Packet primary header as Go values.
type Header struct {
	Version         uint8      // 3 bits; 0 is the only version defined
	Type            PacketType // 1 bit
	SecondaryHeader bool       // the secondary header flag
	APID            frame.APID // 11 bits; 0x7FF is the idle packet
	SeqFlags        SeqFlags   // 2 bits
	SeqCount        uint16     // 14 bits
	DataLen         uint16     // octets in the data field minus one
}

// ErrField is wrapped by Header.Put when a field does not fit its width.
var ErrField = errors.New("ccsds: field out of range")

// Put writes h into b[:HeaderSize]. It fails, leaving b unchanged, if b is
// shorter than HeaderSize or a field exceeds its width; the error names the
// field and its value.
func (h Header) Put(b []byte) error {
	switch {
	case len(b) < HeaderSize:
		return fmt.Errorf("ccsds: header buffer of %d octets, want %d: %w", len(b), HeaderSize, ErrBuffer)
	case h.Version > 7:
		return fmt.Errorf("ccsds: version %d exceeds 3 bits: %w", h.Version, ErrField)
	case h.Type > 1:
		return fmt.Errorf("ccsds: packet type %d exceeds 1 bit: %w", uint8(h.Type), ErrField)
	case !h.APID.Valid():
		return fmt.Errorf("ccsds: APID %v exceeds 11 bits: %w", h.APID, ErrField)
	case h.SeqFlags > 3:
		return fmt.Errorf("ccsds: sequence flags %d exceed 2 bits: %w", uint8(h.SeqFlags), ErrField)
	case h.SeqCount > SeqCountMask:
		return fmt.Errorf("ccsds: sequence count %d exceeds 14 bits: %w", h.SeqCount, ErrField)
	}
	h.put(b)
	return nil
}

// put writes h, whose fields are known to fit, into b.
func (h Header) put(b []byte) {
	w := uint16(h.Version)<<13 | uint16(h.Type)<<12 | uint16(h.APID)
	if h.SecondaryHeader {
		w |= 1 << 11
	}
	binary.BigEndian.PutUint16(b[0:], w)
	binary.BigEndian.PutUint16(b[2:], uint16(h.SeqFlags)<<14|h.SeqCount)
	binary.BigEndian.PutUint16(b[4:], h.DataLen)
}

// ParseHeader decodes the primary header at the start of b. It fails only if
// b is shorter than HeaderSize: every bit pattern is a header, and judging
// the values (version, idle APID, ...) is the caller's business (see Unwrap).
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("ccsds: packet of %d octets is shorter than the %d-octet header: %w", len(b), HeaderSize, ErrShort)
	}
	w0 := binary.BigEndian.Uint16(b[0:])
	w1 := binary.BigEndian.Uint16(b[2:])
	return Header{
		Version:         uint8(w0 >> 13),
		Type:            PacketType(w0 >> 12 & 1),
		SecondaryHeader: w0>>11&1 == 1,
		APID:            frame.APID(w0 & 0x7FF),
		SeqFlags:        SeqFlags(w1 >> 14),
		SeqCount:        w1 & SeqCountMask,
		DataLen:         binary.BigEndian.Uint16(b[4:]),
	}, nil
}

// PacketLen is the whole packet's length in octets that h announces:
// HeaderSize + DataLen + 1.
func (h Header) PacketLen() int { return HeaderSize + int(h.DataLen) + 1 }
