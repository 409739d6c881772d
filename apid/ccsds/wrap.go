package ccsds

import (
	"encoding/binary"
	"errors"
	"fmt"

	"spacenet/apid/frame"
)

// The errors Wrap and Unwrap return, each wrapped with the offending values
// (match them with errors.Is). A refused inner frame also wraps its
// frame.ErrorCode.
var (
	ErrShort           = errors.New("ccsds: packet too short")
	ErrBuffer          = errors.New("ccsds: destination buffer too small")
	ErrSeqCount        = errors.New("ccsds: sequence count exceeds 14 bits")
	ErrVersion         = errors.New("ccsds: packet version is not 0")
	ErrLength          = errors.New("ccsds: data length disagrees with the packet's size")
	ErrIdle            = errors.New("ccsds: idle packet") // APID 0x7FF: skip it, but count it
	ErrIdleAPID        = errors.New("ccsds: a frame from APID 0x7FF would wrap to an idle packet")
	ErrDataField       = errors.New("ccsds: data field shorter than a frame header")
	ErrFrame           = errors.New("ccsds: inner frame invalid")
	ErrPayloadLen      = errors.New("ccsds: inner payload_length disagrees with the data field")
	ErrAPID            = errors.New("ccsds: packet APID differs from the inner frame's source APID")
	ErrType            = errors.New("ccsds: packet type disagrees with the inner frame's type")
	ErrSeqFlags        = errors.New("ccsds: packet is not unsegmented")
	ErrSecondaryHeader = errors.New("ccsds: packet has a secondary header")
)

// PacketTypeOf is the packet type a frame of type t travels as: TC for a
// TC frame, TM for every other type (spec section 4).
func PacketTypeOf(t frame.Type) PacketType {
	if t == frame.TC {
		return TC
	}
	return TM
}

// WrappedLen is the size of the Space Packet that wraps f:
// HeaderSize + frame.HeaderSize + f's payload_length (clamped to
// frame.MaxPayload).
func WrappedLen(f *frame.Frame) int { return HeaderSize + frame.HeaderSize + len(f.Payload()) }

// Wrap writes f as one Space Packet into dst and returns the packet's
// length. The packet is, exactly as spec section 4 decides: version 0,
// type TC for a TC frame and TM otherwise, no secondary header, APID = the
// frame's source APID, unsegmented, sequence count seq, and as data field
// the frame's 8-byte header followed by its payload_length meaningful octets
// (no padding).
//
// Wrap refuses an invalid frame (the error wraps ErrFrame and the frame's
// frame.ErrorCode), a frame from APID 0x7FF (ErrIdleAPID), a seq above
// SeqCountMask (ErrSeqCount) and a dst shorter than WrappedLen(f)
// (ErrBuffer); dst is then unchanged. It does not allocate on success.
//
// [decision] A valid frame may carry source APID 0x7FF, but its packet
// would be an idle packet, which receivers discard (Unwrap returns
// ErrIdle). Wrap refuses it rather than let it vanish silently on the
// ground, so Unwrap(Wrap(f)) is exact for every frame Wrap accepts. No
// tenant may own 0x7FF (spec section 5), so the switch never meets it.
func Wrap(dst []byte, f *frame.Frame, seq uint16) (n int, err error) {
	if err := checkWrap(f, seq); err != nil {
		return 0, err
	}
	data := frame.HeaderSize + int(f.PayloadLen())
	n = HeaderSize + data
	if len(dst) < n {
		return 0, fmt.Errorf("ccsds: wrap: buffer of %d octets, packet needs %d: %w", len(dst), n, ErrBuffer)
	}
	Header{
		Type:     PacketTypeOf(f.Type()),
		APID:     f.APID(),
		SeqFlags: Unsegmented,
		SeqCount: seq,
		DataLen:  uint16(data - 1),
	}.put(dst)
	copy(dst[HeaderSize:n], f[:data])
	return n, nil
}

// Unwrap checks that pkt is exactly one Space Packet as Wrap makes it and
// writes the frame it carries into f, padded back to frame.Size with zeros.
// It returns the packet's header.
//
// The checks, in order, each failure a distinct error (see the Err
// variables) naming the field and the values: pkt holds a header
// (ErrShort); version 0 (ErrVersion); HeaderSize+DataLen+1 == len(pkt),
// trailing octets included (ErrLength); APID not 0x7FF (ErrIdle, returned
// bare so that callers can skip and count idle packets cheaply); data field
// at least frame.HeaderSize octets (ErrDataField); the inner frame valid by
// frame.Check (ErrFrame, also wrapping the frame.ErrorCode); inner
// payload_length == data field length - 8 (ErrPayloadLen); packet APID ==
// inner source APID (ErrAPID); packet type TC iff the inner type is TC
// (ErrType); unsegmented (ErrSeqFlags); no secondary header
// (ErrSecondaryHeader).
//
// On error f is unchanged and the returned Header is what could be decoded
// (the zero Header if pkt is too short). Unwrap does not allocate on
// success or for ErrIdle.
func Unwrap(f *frame.Frame, pkt []byte) (Header, error) {
	h, err := ParseHeader(pkt)
	if err != nil {
		return h, err
	}
	if h.Version != 0 {
		return h, fmt.Errorf("ccsds: packet version %d, want 0: %w", h.Version, ErrVersion)
	}
	if h.PacketLen() != len(pkt) {
		return h, fmt.Errorf("ccsds: data length %d announces a %d-octet packet, got %d octets: %w", h.DataLen, h.PacketLen(), len(pkt), ErrLength)
	}
	if h.APID == frame.APIDIdle {
		return h, ErrIdle
	}
	data := pkt[HeaderSize:]
	if len(data) < frame.HeaderSize {
		return h, fmt.Errorf("ccsds: data field of %d octets, a frame header needs %d: %w", len(data), frame.HeaderSize, ErrDataField)
	}
	ih := frame.Header{
		Version:    data[0],
		Type:       frame.Type(data[1]),
		APID:       frame.APID(binary.BigEndian.Uint16(data[2:])),
		PayloadLen: binary.BigEndian.Uint16(data[4:]),
		Dest:       frame.APID(binary.BigEndian.Uint16(data[6:])),
	}
	if c := ih.Check(); c != 0 {
		return h, fmt.Errorf("ccsds: inner frame version %d type %v APID %v payload_length %d dest %v: %w: %w",
			ih.Version, ih.Type, ih.APID, ih.PayloadLen, ih.Dest, ErrFrame, c)
	}
	if int(ih.PayloadLen) != len(data)-frame.HeaderSize {
		return h, fmt.Errorf("ccsds: inner payload_length %d, data field carries %d payload octets: %w", ih.PayloadLen, len(data)-frame.HeaderSize, ErrPayloadLen)
	}
	if h.APID != ih.APID {
		return h, fmt.Errorf("ccsds: packet APID %v, inner source APID %v: %w", h.APID, ih.APID, ErrAPID)
	}
	if want := PacketTypeOf(ih.Type); h.Type != want {
		return h, fmt.Errorf("ccsds: packet type %v, inner frame type %v wants %v: %w", h.Type, ih.Type, want, ErrType)
	}
	if h.SeqFlags != Unsegmented {
		return h, fmt.Errorf("ccsds: sequence flags %v, want Unsegmented: %w", h.SeqFlags, ErrSeqFlags)
	}
	if h.SecondaryHeader {
		return h, fmt.Errorf("ccsds: secondary header flag set: %w", ErrSecondaryHeader)
	}
	n := copy(f[:], data)
	clear(f[n:])
	return h, nil
}

// checkWrap refuses, for every layout, a frame that is invalid, one from
// APID 0x7FF and a sequence count above 14 bits.
func checkWrap(f *frame.Frame, seq uint16) error {
	if c := f.Check(); c != 0 {
		return fmt.Errorf("ccsds: wrap: frame from APID %v type %v payload_length %d: %w: %w", f.APID(), f.Type(), f.PayloadLen(), ErrFrame, c)
	}
	if f.APID() == frame.APIDIdle {
		return fmt.Errorf("ccsds: wrap: source APID %v: %w", f.APID(), ErrIdleAPID)
	}
	if seq > SeqCountMask {
		return fmt.Errorf("ccsds: wrap: sequence count %d: %w", seq, ErrSeqCount)
	}
	return nil
}
