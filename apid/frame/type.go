package frame

import (
	"fmt"
	"strconv"
	"strings"
)

// Type is a frame's type byte.
type Type uint8

// The ten frame types of space-wire.
const (
	TM     Type = 0x00 // telemetry
	TC     Type = 0x01 // telecommand
	EVR    Type = 0x02 // event report
	PRMGet Type = 0x03 // parameter get
	PRMSet Type = 0x04 // parameter set
	PRMRsp Type = 0x05 // parameter response
	DP     Type = 0x06 // data product notification
	Health Type = 0x07 // health
	Log    Type = 0x08 // log line
	Error  Type = 0x09 // ERROR (NACK) from the switch
)

// NumTypes is how many types are defined; types 0..NumTypes-1 are known.
const NumTypes = 10

var typeNames = [NumTypes]string{"TM", "TC", "EVR", "PRM_GET", "PRM_SET", "PRM_RSP", "DP", "HEALTH", "LOG", "ERROR"}

// Known reports whether t is one of the ten defined types.
func (t Type) Known() bool { return t < NumTypes }

// String returns the type's name as the spec writes it ("PRM_GET"), or
// "Type(0x0a)" for an unknown type.
func (t Type) String() string {
	if t.Known() {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%#02x)", uint8(t))
}

// ParseType returns the type named s, case-insensitively ("tm", "PRM_GET",
// "prm-get"). A whole Go integer literal ("0x03", "3") is accepted too, if
// it is a known type; trailing text ("3abc") is not.
func ParseType(s string) (Type, error) {
	name := strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(s)), "-", "_")
	for i, n := range typeNames {
		if n == name {
			return Type(i), nil
		}
	}
	if v, err := strconv.ParseUint(name, 0, 8); err == nil && Type(v).Known() {
		return Type(v), nil
	}
	return 0, fmt.Errorf("frame: unknown type %q (want one of %s)", s, strings.Join(typeNames[:], ", "))
}
