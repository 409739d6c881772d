package wire

import "encoding/binary"

// UDPSize is the size of a UDP header.
const UDPSize = 8

// UDP header (RFC 768):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|            Length             |           Checksum            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6
)

// UDP is a view of a UDP datagram (RFC 768), header and payload.
type UDP []byte

// UDPFields are the fields Encode writes. The checksum is left zero: set it
// with SetChecksum(u.CalculateChecksum(pseudo)) once the payload is in.
type UDPFields struct {
	SrcPort, DstPort uint16
	Length           uint16
}

// ParseUDP checks the length field against b and returns the view cut to
// it.
func ParseUDP(b []byte) (UDP, error) {
	var fe FieldError
	u, ok := checkUDP(b, &fe)
	if !ok {
		return nil, heapErr(&fe)
	}
	return u, nil
}

func checkUDP(b []byte, e *FieldError) (UDP, bool) {
	if len(b) < UDPSize {
		return nil, e.short("udp", "header", UDPSize, len(b))
	}
	l := int(binary.BigEndian.Uint16(b[udpLength:]))
	if l < UDPSize {
		return nil, e.fail("udp", "length", Invalid, l, UDPSize)
	}
	if l > len(b) {
		return nil, e.short("udp", "length", l, len(b))
	}
	return UDP(b[:l]), true
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[udpSrcPort:]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[udpDstPort:]) }

// Length returns the length field.
func (u UDP) Length() uint16 { return binary.BigEndian.Uint16(u[udpLength:]) }

// Checksum returns the checksum field (0: none, IPv4 only).
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[udpChecksum:]) }

// Payload returns the data after the header.
func (u UDP) Payload() []byte { return u[UDPSize:] }

// SetSrcPort sets the source port.
func (u UDP) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(u[udpSrcPort:], p) }

// SetDstPort sets the destination port.
func (u UDP) SetDstPort(p uint16) { binary.BigEndian.PutUint16(u[udpDstPort:], p) }

// SetLength sets the length field.
func (u UDP) SetLength(n uint16) { binary.BigEndian.PutUint16(u[udpLength:], n) }

// SetChecksum sets the checksum field.
func (u UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(u[udpChecksum:], c) }

// Encode writes the header described by f, with a zero checksum.
func (u UDP) Encode(f *UDPFields) {
	_ = u[UDPSize-1]
	u.SetSrcPort(f.SrcPort)
	u.SetDstPort(f.DstPort)
	u.SetLength(f.Length)
	u.SetChecksum(0)
}

// CalculateChecksum returns the checksum of the whole datagram (the view's
// length) given the pseudo-header sum, computed as if the checksum field
// were zero, with a result of 0 sent as 0xffff (RFC 768).
func (u UDP) CalculateChecksum(pseudo uint16) uint16 {
	s := Combine(Sum(u[:udpChecksum], pseudo), Sum(u[UDPSize:], 0))
	c := ^s
	if c == 0 {
		c = 0xffff
	}
	return c
}

// ChecksumValid reports whether the checksum verifies under the
// pseudo-header sum. A zero checksum field (none) is valid only when
// zeroOK (IPv4).
func (u UDP) ChecksumValid(pseudo uint16, zeroOK bool) bool {
	if u.Checksum() == 0 {
		return zeroOK
	}
	return Sum(u, pseudo) == 0xffff
}
