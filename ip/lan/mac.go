package lan

import (
	"fmt"
	"net"
)

// MAC is an Ethernet address.
type MAC [6]byte

// ParseMAC parses "52:54:00:12:34:56" (any form net.ParseMAC accepts for a
// 6-byte address).
func ParseMAC(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil {
		return MAC{}, fmt.Errorf("lan: MAC %q: %w", s, err)
	}
	if len(hw) != 6 {
		return MAC{}, fmt.Errorf("lan: MAC %q: %d bytes, want 6", s, len(hw))
	}
	return MAC(hw), nil
}

// String formats m as "52:54:00:12:34:56".
func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// IsMulticast reports whether m is a group address (broadcast included).
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// LocalMAC returns the locally administered unicast address 02:53:4e:xx:xx:xx
// for id, as mirage-vnetif derives a node's MAC from its id.
func LocalMAC(id uint32) MAC {
	return MAC{0x02, 0x53, 0x4e, byte(id >> 16), byte(id >> 8), byte(id)}
}
