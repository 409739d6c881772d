package wire

import (
	"net/netip"
)

// MAC is an Ethernet (EUI-48) address, a comparable value.
type MAC [6]byte

// MACSize is the length of an Ethernet address.
const MACSize = 6

// Well-known MAC addresses.
var (
	Broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

const hexDigits = "0123456789abcdef"

// String formats m as "02:00:5e:10:00:01".
func (m MAC) String() string {
	var b [17]byte
	for i, x := range m {
		if i > 0 {
			b[3*i-1] = ':'
		}
		b[3*i] = hexDigits[x>>4]
		b[3*i+1] = hexDigits[x&0xf]
	}
	return string(b[:])
}

// IsMulticast reports whether the group bit is set (broadcast included).
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// ParseMAC parses "02:00:5e:10:00:01" (or with '-' separators) and
// "0200.5e10.0001": the forms of a 6-byte address that net.ParseMAC
// accepts, hex digits in either case.
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) == 14 {
		return parseDottedMAC(s)
	}
	if len(s) != 17 {
		return m, &FieldError{Layer: "mac", Field: "text", Kind: Invalid, Value: len(s), Limit: 17}
	}
	for i := range m {
		if i > 0 && s[3*i-1] != ':' && s[3*i-1] != '-' {
			return m, &FieldError{Layer: "mac", Field: "separator", Kind: Invalid, Value: int(s[3*i-1]), Limit: 3*i - 1}
		}
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 {
			return m, &FieldError{Layer: "mac", Field: "digit", Kind: Invalid, Value: 3 * i, Limit: 17}
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

// parseDottedMAC parses the 14-character form "0200.5e10.0001".
func parseDottedMAC(s string) (MAC, error) {
	var m MAC
	for i := range m {
		at := 5*(i/2) + 2*(i%2) // two digits per byte, a dot after four
		if i%2 == 0 && i > 0 && s[at-1] != '.' {
			return m, &FieldError{Layer: "mac", Field: "separator", Kind: Invalid, Value: int(s[at-1]), Limit: at - 1}
		}
		hi, ok1 := unhex(s[at])
		lo, ok2 := unhex(s[at+1])
		if !ok1 || !ok2 {
			return m, &FieldError{Layer: "mac", Field: "digit", Kind: Invalid, Value: at, Limit: 14}
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

// LocalMAC returns the locally administered unicast address
// 02:53:4e:xx:xx:xx for id (its low 24 bits), as mirage-vnetif derives a
// node's MAC from its id.
func LocalMAC(id uint32) MAC {
	return MAC{0x02, 0x53, 0x4e, byte(id >> 16), byte(id >> 8), byte(id)}
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// IPv6MulticastMAC returns the Ethernet address an IPv6 multicast group maps
// to (RFC 2464 section 7): 33:33 and the group's last four bytes.
func IPv6MulticastMAC(group netip.Addr) MAC {
	a := group.As16()
	return MAC{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

// SolicitedNode returns the solicited-node multicast address of a
// (RFC 4291 section 2.7.1): ff02::1:ffXX:XXXX.
func SolicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// AllNodes is the IPv6 link-local all-nodes group ff02::1.
var AllNodes = netip.AddrFrom16([16]byte{0xff, 0x02, 15: 1})
