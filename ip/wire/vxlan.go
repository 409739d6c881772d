package wire

import "encoding/binary"

// VXLAN (RFC 7348): an Ethernet frame in a UDP datagram (port 4789), after
// an 8-byte header:
//
//	0  u8   flags: 0x08, the I flag (the VNI is valid); the others reserved, 0
//	1  u24  reserved, 0
//	4  u24  VNI, the VXLAN network identifier
//	7  u8   reserved, 0
const (
	VXLANSize  = 8
	VXLANPort  = 4789
	VXLANFlagI = 0x08
	MaxVNI     = 1<<24 - 1
)

// PutVXLAN writes the header for vni into b[:VXLANSize].
func PutVXLAN(b []byte, vni uint32) {
	_ = b[VXLANSize-1]
	binary.BigEndian.PutUint32(b[0:], VXLANFlagI<<24)
	binary.BigEndian.PutUint32(b[4:], (vni&MaxVNI)<<8)
}

// ParseVXLAN checks a VXLAN datagram's header and returns its VNI and the
// inner Ethernet frame (a slice of b). RFC 7348 says receivers ignore the
// reserved bits; the I flag must be set. It does not allocate unless it
// fails.
func ParseVXLAN(b []byte) (vni uint32, frame []byte, err error) {
	var fe FieldError
	vni, frame, ok := VXLANCheck(b, &fe)
	if !ok {
		return 0, nil, heapErr(&fe)
	}
	return vni, frame, nil
}

// VXLANCheck is ParseVXLAN for hot paths: it never allocates, and returns
// ok false (with the reason in *e) instead of an error.
func VXLANCheck(b []byte, e *FieldError) (vni uint32, frame []byte, ok bool) {
	if len(b) < VXLANSize {
		return 0, nil, e.short("vxlan", "header", VXLANSize, len(b))
	}
	if b[0]&VXLANFlagI == 0 {
		return 0, nil, e.fail("vxlan", "flags", Invalid, int(b[0]), VXLANFlagI)
	}
	if len(b) < VXLANSize+EthernetSize {
		return 0, nil, e.short("vxlan", "inner_ethernet", VXLANSize+EthernetSize, len(b))
	}
	return binary.BigEndian.Uint32(b[4:]) >> 8, b[VXLANSize:], true
}
