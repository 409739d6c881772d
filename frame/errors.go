package frame

import (
	"encoding/binary"
	"fmt"
)

// ErrorCode is the error_code of an ERROR frame. It implements error, so a
// validation failure is an ErrorCode that errors.Is can match, and converting
// it to error does not allocate.
type ErrorCode uint8

// The ERROR codes. 0x01-0x06 are space-wire's; 0x07 and 0x08 are this
// project's extension (spec section 2).
const (
	UnknownType      ErrorCode = 0x01
	UnknownVersion   ErrorCode = 0x02
	MessageTooLarge  ErrorCode = 0x03
	APIDNotAllocated ErrorCode = 0x04
	HostBusy         ErrorCode = 0x05
	Malformed        ErrorCode = 0x06
	NotPermitted     ErrorCode = 0x07
	NoRoute          ErrorCode = 0x08
	MaxErrorCode               = NoRoute
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

// ErrorPayloadSize is the size of an ERROR frame's payload.
const ErrorPayloadSize = 8

// ErrorPayload is the 8-byte payload of an ERROR frame: what was refused and
// why.
type ErrorPayload struct {
	Code            ErrorCode
	OffendingType   uint8  // the rejected frame's type byte, which may be unknown
	OffendingAPID   uint16 // the rejected frame's source APID field, as carried
	OffendingPayLen uint16 // the rejected frame's payload_length field, as carried
}

// Put writes p into b, which must hold ErrorPayloadSize bytes.
func (p ErrorPayload) Put(b []byte) {
	_ = b[ErrorPayloadSize-1]
	b[0] = byte(p.Code)
	b[1] = p.OffendingType
	binary.BigEndian.PutUint16(b[2:], p.OffendingAPID)
	binary.BigEndian.PutUint16(b[4:], p.OffendingPayLen)
	binary.BigEndian.PutUint16(b[6:], 0)
}

// ParseErrorPayload decodes an ERROR payload. It fails if b is shorter than
// ErrorPayloadSize; an unknown code is returned as is.
func ParseErrorPayload(b []byte) (ErrorPayload, error) {
	if len(b) < ErrorPayloadSize {
		return ErrorPayload{}, fmt.Errorf("frame: ERROR payload of %d bytes, want %d", len(b), ErrorPayloadSize)
	}
	return ErrorPayload{
		Code:            ErrorCode(b[0]),
		OffendingType:   b[1],
		OffendingAPID:   binary.BigEndian.Uint16(b[2:]),
		OffendingPayLen: binary.BigEndian.Uint16(b[4:]),
	}, nil
}

// EncodeError writes into f the ERROR frame the switch answers rejected with:
// source APID 0x000 (the switch), destination the rejected frame's source
// APID (masked to 11 bits), and the 8-byte payload. It never allocates.
func EncodeError(f *Frame, code ErrorCode, rejected *Frame) {
	p := ErrorPayload{
		Code:            code,
		OffendingType:   byte(rejected.Type()),
		OffendingAPID:   uint16(rejected.APID()),
		OffendingPayLen: rejected.PayloadLen(),
	}
	dest := rejected.APID() & MaxAPID
	clear(f[:])
	f.SetVersion(Version)
	f.SetType(Error)
	f.SetAPID(APIDSwitch)
	f.SetPayloadLen(ErrorPayloadSize)
	f.SetDest(dest)
	p.Put(f[HeaderSize:])
}
