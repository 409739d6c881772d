package frame

import (
	"fmt"
	"strconv"
)

// APID is an Application Process Identifier: 11 bits, 0x000-0x7FF. A field
// read from the wire may carry more bits; Valid reports whether it does not.
type APID uint16

// Well-known APIDs and ranges (spec sections 2, 4 and 5).
const (
	APIDSwitch  APID = 0x000 // the switch itself (ERROR frames); as a destination, "to ground"
	SystemFirst APID = 0x001 // first system APID, dispatched to the system handler
	SystemLast  APID = 0x00F // last system APID
	TenantFirst APID = 0x010 // first APID a tenant may own
	TenantLast  APID = 0x7FE // last APID a tenant may own
	APIDIdle    APID = 0x7FF // the CCSDS idle packet's APID
	MaxAPID     APID = 0x7FF // largest 11-bit value
	NumAPIDs         = 2048  // size of the APID space
)

// Valid reports whether a fits in 11 bits.
func (a APID) Valid() bool { return a <= MaxAPID }

// System reports whether a is a system APID (0x001-0x00F).
func (a APID) System() bool { return a >= SystemFirst && a <= SystemLast }

// String formats a as three hex digits, "0x010".
func (a APID) String() string { return fmt.Sprintf("0x%03X", uint16(a)) }

// ParseAPID parses "0x010", "16" or "0o20" (any Go integer literal) and
// checks that it fits in 11 bits.
func ParseAPID(s string) (APID, error) {
	v, err := strconv.ParseUint(s, 0, 16)
	if err != nil {
		return 0, fmt.Errorf("frame: APID %q: %w", s, err)
	}
	if a := APID(v); a.Valid() {
		return a, nil
	}
	return 0, fmt.Errorf("frame: APID %q exceeds 0x7FF", s)
}
