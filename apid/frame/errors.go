package frame

import (
	"encoding/binary"
	"fmt"
)

// ErrorCode is the error_code of an ERROR frame. It implements error, so a
// validation failure is an ErrorCode that errors.Is can match, and converting
// it to error does not allocate.
type ErrorCode uint8

// The ERROR codes. 0x01-0x06 are space-wire's; 0x07-0x0A are this
// project's extension (spec section 2; 0x09 and 0x0A are decisions of
// docs/apid-switch.md, "Flow control").
const (
	UnknownType      ErrorCode = 0x01
	UnknownVersion   ErrorCode = 0x02
	MessageTooLarge  ErrorCode = 0x03
	APIDNotAllocated ErrorCode = 0x04
	HostBusy         ErrorCode = 0x05
	Malformed        ErrorCode = 0x06
	NotPermitted     ErrorCode = 0x07
	NoRoute          ErrorCode = 0x08
	// RateLimited: the sender exceeded its rate limit (policy "rate") and
	// its tenant is configured to drop what is over it.
	RateLimited ErrorCode = 0x09
	// LinkFailed: the ground link could not send the frame (the ground
	// refused it, or the link failed); the frame was not sent.
	LinkFailed   ErrorCode = 0x0A
	MaxErrorCode           = LinkFailed
)

var codeNames = [...]string{
	UnknownType:      "Unknown_type",
	UnknownVersion:   "Unknown_version",
	MessageTooLarge:  "Message_too_large",
	APIDNotAllocated: "Apid_not_allocated",
	HostBusy:         "Host_busy",
	Malformed:        "Malformed",
	NotPermitted:     "Not_permitted",
	NoRoute:          "No_route",
	RateLimited:      "Rate_limited",
	LinkFailed:       "Link_failed",
}

// Known reports whether c is one of the defined codes.
func (c ErrorCode) Known() bool { return c >= UnknownType && c <= MaxErrorCode }

// String returns the code's name as the spec writes it, "Host_busy".
func (c ErrorCode) String() string {
	if c.Known() {
		return codeNames[c]
	}
	return fmt.Sprintf("ErrorCode(%#02x)", uint8(c))
}

// Error implements error.
func (c ErrorCode) Error() string { return "frame: " + c.String() }

// The ERROR payload (spec section 2): ErrorPayloadSize bytes that say what
// was refused and why, then [decision, 2026-12] an echo of the first
// ErrorEchoSize bytes of the refused frame's payload, so that a guest that
// tags its frames in their first payload bytes learns exactly which frame
// was refused. A reader of the 8-byte form is unaffected.
//
//	0  u8   error_code
//	1  u8   offending_type
//	2  u16  offending_apid
//	4  u16  offending_pay_len
//	6  u16  reserved, 0
//	8  16 bytes: the refused frame's payload[0:16], zero past its payload_length
const (
	ErrorPayloadSize = 8                                // the space-wire part
	ErrorEchoSize    = 16                               // the echo that follows it
	ErrorFrameLen    = ErrorPayloadSize + ErrorEchoSize // an ERROR frame's payload_length
)

// ErrorPayload is the payload of an ERROR frame: what was refused and why,
// and the echo of the refused frame's first payload bytes.
type ErrorPayload struct {
	Code            ErrorCode
	OffendingType   uint8  // the rejected frame's type byte, which may be unknown
	OffendingAPID   uint16 // the rejected frame's source APID field, as carried
	OffendingPayLen uint16 // the rejected frame's payload_length field, as carried
	// Echo is the rejected frame's payload[0:16], zero past its
	// payload_length; all zero when the ERROR carried the 8-byte form only.
	Echo [ErrorEchoSize]byte
}

// Put writes p into b, which must hold ErrorFrameLen bytes.
func (p ErrorPayload) Put(b []byte) {
	_ = b[ErrorFrameLen-1]
	b[0] = byte(p.Code)
	b[1] = p.OffendingType
	binary.BigEndian.PutUint16(b[2:], p.OffendingAPID)
	binary.BigEndian.PutUint16(b[4:], p.OffendingPayLen)
	binary.BigEndian.PutUint16(b[6:], 0)
	copy(b[ErrorPayloadSize:ErrorFrameLen], p.Echo[:])
}

// ParseErrorPayload decodes an ERROR payload. It fails if b is shorter than
// ErrorPayloadSize; an unknown code is returned as is. The echo is read
// when b holds it (ErrorFrameLen bytes), else it stays zero.
func ParseErrorPayload(b []byte) (ErrorPayload, error) {
	if len(b) < ErrorPayloadSize {
		return ErrorPayload{}, fmt.Errorf("frame: ERROR payload of %d bytes, want %d", len(b), ErrorPayloadSize)
	}
	p := ErrorPayload{
		Code:            ErrorCode(b[0]),
		OffendingType:   b[1],
		OffendingAPID:   binary.BigEndian.Uint16(b[2:]),
		OffendingPayLen: binary.BigEndian.Uint16(b[4:]),
	}
	if len(b) >= ErrorFrameLen {
		copy(p.Echo[:], b[ErrorPayloadSize:ErrorFrameLen])
	}
	return p, nil
}

// EncodeError writes into f the ERROR frame the switch answers rejected with:
// source APID 0x000 (the switch), destination the rejected frame's source
// APID (masked to 11 bits), and the payload with its echo. f may be
// rejected itself. It never allocates.
func EncodeError(f *Frame, code ErrorCode, rejected *Frame) {
	p := ErrorPayload{
		Code:            code,
		OffendingType:   byte(rejected.Type()),
		OffendingAPID:   uint16(rejected.APID()),
		OffendingPayLen: rejected.PayloadLen(),
	}
	copy(p.Echo[:min(int(p.OffendingPayLen), ErrorEchoSize)], rejected[HeaderSize:])
	dest := rejected.APID() & MaxAPID
	clear(f[:])
	f.SetVersion(Version)
	f.SetType(Error)
	f.SetAPID(APIDSwitch)
	f.SetPayloadLen(ErrorFrameLen)
	f.SetDest(dest)
	p.Put(f[HeaderSize:])
}
