package wire

import (
	"encoding/binary"
	"net/netip"
)

// ARP operations.
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// ARPSize is the size of an ARP packet for IPv4 over Ethernet.
const ARPSize = 28

// ARP packet for IPv4 over Ethernet (RFC 826):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Hardware Type (1)         |     Protocol Type (0x0800)    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| HW Length (6) |Proto Length(4)|           Operation           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Sender Hardware Address                    |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |    Sender Protocol Address    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|               |           Target Hardware Address             |
//	+-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
//	|                                               |               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+               +
//	|            Target Protocol Address            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	arpHardwareType = 0
	arpProtocolType = 2
	arpHardwareLen  = 4
	arpProtocolLen  = 5
	arpOp           = 6
	arpSenderMAC    = 8
	arpSenderIP     = 14
	arpTargetMAC    = 18
	arpTargetIP     = 24
)

// ARP is a view of an ARP packet for IPv4 over Ethernet (RFC 826): hardware
// type 1, protocol type 0x0800, address lengths 6 and 4.
type ARP []byte

// ARPFields are the fields Encode writes (the fixed types and lengths are
// always written).
type ARPFields struct {
	Op                   uint16
	SenderMAC, TargetMAC MAC
	SenderIP, TargetIP   netip.Addr // IPv4
}

// ParseARP checks that b holds an ARP packet for IPv4 over Ethernet.
func ParseARP(b []byte) (ARP, error) {
	var fe FieldError
	if !checkARP(b, &fe) {
		return nil, heapErr(&fe)
	}
	return ARP(b[:ARPSize]), nil
}

func checkARP(b []byte, e *FieldError) bool {
	if len(b) < ARPSize {
		return e.short("arp", "packet", ARPSize, len(b))
	}
	h := ARP(b)
	switch {
	case h.HardwareType() != 1:
		return e.fail("arp", "hardware_type", Unsupported, int(h.HardwareType()), 1)
	case h.ProtocolType() != EtherTypeIPv4:
		return e.fail("arp", "protocol_type", Unsupported, int(h.ProtocolType()), int(EtherTypeIPv4))
	case b[arpHardwareLen] != MACSize:
		return e.fail("arp", "hardware_length", Invalid, int(b[arpHardwareLen]), MACSize)
	case b[arpProtocolLen] != 4:
		return e.fail("arp", "protocol_length", Invalid, int(b[arpProtocolLen]), 4)
	}
	return true
}

// HardwareType returns the hardware type (1 for Ethernet).
func (h ARP) HardwareType() uint16 { return binary.BigEndian.Uint16(h[arpHardwareType:]) }

// ProtocolType returns the protocol type (0x0800 for IPv4).
func (h ARP) ProtocolType() uint16 { return binary.BigEndian.Uint16(h[arpProtocolType:]) }

// Op returns the operation.
func (h ARP) Op() uint16 { return binary.BigEndian.Uint16(h[arpOp:]) }

// SenderMAC returns the sender hardware address.
func (h ARP) SenderMAC() MAC { return MAC(h[arpSenderMAC : arpSenderMAC+MACSize]) }

// SenderIP returns the sender protocol address.
func (h ARP) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(h[arpSenderIP : arpSenderIP+4])) }

// TargetMAC returns the target hardware address.
func (h ARP) TargetMAC() MAC { return MAC(h[arpTargetMAC : arpTargetMAC+MACSize]) }

// TargetIP returns the target protocol address.
func (h ARP) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(h[arpTargetIP : arpTargetIP+4])) }

// SetOp sets the operation.
func (h ARP) SetOp(op uint16) { binary.BigEndian.PutUint16(h[arpOp:], op) }

// SetSender sets the sender addresses; ip must be IPv4.
func (h ARP) SetSender(m MAC, ip netip.Addr) {
	a := ip.As4()
	copy(h[arpSenderMAC:arpSenderMAC+MACSize], m[:])
	copy(h[arpSenderIP:arpSenderIP+4], a[:])
}

// SetTarget sets the target addresses; ip must be IPv4.
func (h ARP) SetTarget(m MAC, ip netip.Addr) {
	a := ip.As4()
	copy(h[arpTargetMAC:arpTargetMAC+MACSize], m[:])
	copy(h[arpTargetIP:arpTargetIP+4], a[:])
}

// Encode writes a whole ARP packet into the first 28 bytes of h.
func (h ARP) Encode(f *ARPFields) {
	_ = h[ARPSize-1]
	binary.BigEndian.PutUint16(h[arpHardwareType:], 1)
	binary.BigEndian.PutUint16(h[arpProtocolType:], EtherTypeIPv4)
	h[arpHardwareLen], h[arpProtocolLen] = MACSize, 4
	h.SetOp(f.Op)
	h.SetSender(f.SenderMAC, f.SenderIP)
	h.SetTarget(f.TargetMAC, f.TargetIP)
}
