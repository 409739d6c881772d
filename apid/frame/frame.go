// Package frame is the APID plane's wire unit: the fixed 256-byte frame that
// guests and the switch exchange, its ten types, the ERROR (NACK) payload and
// the DP payload.
//
// A Frame is a value ([Size]byte) with accessors and setters, in the style of
// gVisor's tcpip/header: nothing here allocates, so decoding and validating a
// frame costs no garbage on the switch's hot path. Validation errors are
// ErrorCode values, which map one-to-one to the codes an ERROR frame carries.
//
// This package knows nothing of tenants, policy or sockets: see packages
// policy, router and apidswitch for those.
package frame

import (
	"encoding/binary"
	"fmt"
)

// Sizes of the frame and its parts, in bytes.
const (
	Size       = 256               // every frame, every read and every write
	HeaderSize = 8                 // version, type, APID, payload_length, destination
	MaxPayload = Size - HeaderSize // 248: the largest meaningful payload
)

// Version is the only frame version this implementation speaks. The upstream
// constant is not published; 0x01 is this project's decision (spec section 1).
const Version uint8 = 0x01

// Offsets of the header fields.
const (
	offVersion    = 0
	offType       = 1
	offAPID       = 2
	offPayloadLen = 4
	offDest       = 6
)

// Frame is one 256-byte frame. Integers are big-endian. The zero value is a
// frame of version 0, which is not valid: use Encode or the setters.
type Frame [Size]byte

// Version returns the version byte.
func (f *Frame) Version() uint8 { return f[offVersion] }

// Type returns the type byte, which may be an unknown type.
func (f *Frame) Type() Type { return Type(f[offType]) }

// APID returns the source APID field as carried, including any bits above
// the 11 that an APID has.
func (f *Frame) APID() APID { return APID(binary.BigEndian.Uint16(f[offAPID:])) }

// PayloadLen returns the payload_length field as carried (it may exceed
// MaxPayload on a malformed frame).
func (f *Frame) PayloadLen() uint16 { return binary.BigEndian.Uint16(f[offPayloadLen:]) }

// Dest returns the destination APID, which space-net carries in the header's
// reserved field.
func (f *Frame) Dest() APID { return APID(binary.BigEndian.Uint16(f[offDest:])) }

// Payload returns the meaningful payload bytes, f[8 : 8+payload_length],
// clamped to MaxPayload so that it is safe to call on an unvalidated frame.
func (f *Frame) Payload() []byte {
	n := int(f.PayloadLen())
	if n > MaxPayload {
		n = MaxPayload
	}
	return f[HeaderSize : HeaderSize+n]
}

// SetVersion sets the version byte.
func (f *Frame) SetVersion(v uint8) { f[offVersion] = v }

// SetType sets the type byte.
func (f *Frame) SetType(t Type) { f[offType] = byte(t) }

// SetAPID sets the source APID field.
func (f *Frame) SetAPID(a APID) { binary.BigEndian.PutUint16(f[offAPID:], uint16(a)) }

// SetPayloadLen sets the payload_length field.
func (f *Frame) SetPayloadLen(n uint16) { binary.BigEndian.PutUint16(f[offPayloadLen:], n) }

// SetDest sets the destination APID field.
func (f *Frame) SetDest(a APID) { binary.BigEndian.PutUint16(f[offDest:], uint16(a)) }

// Header returns the decoded header fields, unvalidated.
func (f *Frame) Header() Header {
	return Header{
		Version:    f.Version(),
		Type:       f.Type(),
		APID:       f.APID(),
		PayloadLen: f.PayloadLen(),
		Dest:       f.Dest(),
	}
}

// ZeroPadding clears the bytes after payload_length, so that nothing a sender
// left there reaches another tenant (spec section 1). It assumes a validated
// frame; on a frame whose payload_length exceeds MaxPayload it does nothing.
func (f *Frame) ZeroPadding() {
	n := int(f.PayloadLen())
	if n > MaxPayload {
		return
	}
	clear(f[HeaderSize+n:])
}

// Validate checks the header in the spec's decode order: version, type,
// payload_length, then the reserved upper bits of the APID and destination.
// It returns nil or the ErrorCode the switch answers with. It never allocates.
func (f *Frame) Validate() error {
	if c := f.Check(); c != 0 {
		return c
	}
	return nil
}

// Check is Validate without the error interface: 0 means valid.
func (f *Frame) Check() ErrorCode {
	h := f.Header()
	return h.Check()
}

// Header is a frame's header as Go values.
type Header struct {
	Version    uint8
	Type       Type
	APID       APID   // source
	PayloadLen uint16 // meaningful payload bytes
	Dest       APID   // destination, carried in the reserved field
}

// Check validates h in the spec's decode order (version, type,
// payload_length, reserved APID bits) and returns the first failure's
// ErrorCode, or 0 when h is valid.
func (h Header) Check() ErrorCode {
	switch {
	case h.Version != Version:
		return UnknownVersion
	case !h.Type.Known():
		return UnknownType
	case h.PayloadLen > MaxPayload:
		return MessageTooLarge
	case !h.APID.Valid() || !h.Dest.Valid():
		return Malformed
	}
	return 0
}

// Encode writes a frame into f: version Version, type t, source src,
// destination dest, and payload followed by zero padding. It returns an
// error if the payload is longer than MaxPayload or an APID has more than 11
// bits; f is then left unchanged. t is written as given: an unknown type
// makes a frame that Check refuses with UnknownType (tests use this). It
// never allocates on success.
func Encode(f *Frame, t Type, src, dest APID, payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("frame: payload of %d bytes exceeds %d: %w", len(payload), MaxPayload, MessageTooLarge)
	}
	if !src.Valid() {
		return fmt.Errorf("frame: source APID %v has more than 11 bits: %w", src, Malformed)
	}
	if !dest.Valid() {
		return fmt.Errorf("frame: destination APID %v has more than 11 bits: %w", dest, Malformed)
	}
	f.SetVersion(Version)
	f.SetType(t)
	f.SetAPID(src)
	f.SetPayloadLen(uint16(len(payload)))
	f.SetDest(dest)
	n := copy(f[HeaderSize:], payload)
	clear(f[HeaderSize+n:])
	return nil
}
