package wire

import "encoding/binary"

// EtherType values this package decodes.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeVLAN uint16 = 0x8100 // 802.1Q customer tag
	EtherTypeQinQ uint16 = 0x88a8 // 802.1ad service tag
	EtherTypeIPv6 uint16 = 0x86dd
)

// Sizes of the Ethernet header and an 802.1Q tag.
const (
	EthernetSize = 14
	VLANSize     = 4
)

// Ethernet II header (IEEE 802.3 clause 3.1.1, RFC 894), and an 802.1Q tag
// as it follows a TPID of 0x8100 or 0x88a8 in the EtherType field:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                      Destination Address                      |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                        Source Address                         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|        EtherType (TPID)       |  PCP  |D|         VID         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|    EtherType (tagged frame)   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ethDst       = 0
	ethSrc       = 6
	ethEtherType = 12

	// Offsets in a VLAN view (after the TPID).
	vlanTCI       = 0
	vlanEtherType = 2
)

// Ethernet is a view of an Ethernet II header: destination, source,
// EtherType (which is a tag protocol identifier when tags follow).
type Ethernet []byte

// EthernetFields are the fields Encode writes.
type EthernetFields struct {
	Dst, Src  MAC
	EtherType uint16
}

// ParseEthernet checks that b holds an Ethernet header and returns the view.
func ParseEthernet(b []byte) (Ethernet, error) {
	var fe FieldError
	if !checkEthernet(b, &fe) {
		return nil, heapErr(&fe)
	}
	return Ethernet(b), nil
}

func checkEthernet(b []byte, e *FieldError) bool {
	if len(b) < EthernetSize {
		return e.short("ethernet", "header", EthernetSize, len(b))
	}
	if t := binary.BigEndian.Uint16(b[ethEtherType:]); t < 0x0600 {
		// An 802.3 length field, not an EtherType: not Ethernet II.
		return e.fail("ethernet", "ethertype", Unsupported, int(t), 0x0600)
	}
	return true
}

// Dst returns the destination address.
func (h Ethernet) Dst() MAC { return MAC(h[ethDst : ethDst+MACSize]) }

// Src returns the source address.
func (h Ethernet) Src() MAC { return MAC(h[ethSrc : ethSrc+MACSize]) }

// EtherType returns the EtherType field (the first tag's TPID if tagged).
func (h Ethernet) EtherType() uint16 { return binary.BigEndian.Uint16(h[ethEtherType:]) }

// SetDst sets the destination address.
func (h Ethernet) SetDst(m MAC) { copy(h[ethDst:ethDst+MACSize], m[:]) }

// SetSrc sets the source address.
func (h Ethernet) SetSrc(m MAC) { copy(h[ethSrc:ethSrc+MACSize], m[:]) }

// SetEtherType sets the EtherType field.
func (h Ethernet) SetEtherType(t uint16) { binary.BigEndian.PutUint16(h[ethEtherType:], t) }

// Payload returns what follows the 14-byte header (tags included).
func (h Ethernet) Payload() []byte { return h[EthernetSize:] }

// Encode writes f into the first 14 bytes of h.
func (h Ethernet) Encode(f *EthernetFields) {
	_ = h[EthernetSize-1]
	h.SetDst(f.Dst)
	h.SetSrc(f.Src)
	h.SetEtherType(f.EtherType)
}

// VLAN is a view of an 802.1Q tag's last four bytes as they follow a TPID:
// the tag control information (PCP, DEI, VID) and the next EtherType. The
// TPID itself is the preceding EtherType field.
type VLAN []byte

// ParseVLAN checks that b holds a tag and returns the view.
func ParseVLAN(b []byte) (VLAN, error) {
	if len(b) < VLANSize {
		return nil, &FieldError{Layer: "vlan", Field: "tag", Kind: Truncated, Value: VLANSize, Limit: len(b)}
	}
	return VLAN(b), nil
}

// TCI returns the whole tag control information.
func (v VLAN) TCI() uint16 { return binary.BigEndian.Uint16(v[vlanTCI:]) }

// PCP returns the priority code point (3 bits).
func (v VLAN) PCP() uint8 { return v[vlanTCI] >> 5 }

// DEI returns the drop eligible indicator.
func (v VLAN) DEI() bool { return v[vlanTCI]&0x10 != 0 }

// VID returns the VLAN identifier (12 bits).
func (v VLAN) VID() uint16 { return v.TCI() & 0x0fff }

// EtherType returns the EtherType that follows the tag.
func (v VLAN) EtherType() uint16 { return binary.BigEndian.Uint16(v[vlanEtherType:]) }

// SetTCI sets the tag control information from its parts; vid is masked to
// 12 bits and pcp to 3.
func (v VLAN) SetTCI(pcp uint8, dei bool, vid uint16) {
	t := uint16(pcp&7)<<13 | vid&0x0fff
	if dei {
		t |= 0x1000
	}
	binary.BigEndian.PutUint16(v[vlanTCI:], t)
}

// SetEtherType sets the EtherType that follows the tag.
func (v VLAN) SetEtherType(t uint16) { binary.BigEndian.PutUint16(v[vlanEtherType:], t) }
