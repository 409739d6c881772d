package nic

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"

	"spacenet/ip/wire"
)

// vnetHdrLen is the length of struct virtio_net_hdr, which a TAP opened
// with IFF_VNET_HDR and an AF_PACKET socket with PACKET_VNET_HDR put before
// every frame. Its fields are in host byte order.
const vnetHdrLen = 10

// vnetResult says what to do with a frame after its virtio-net header.
type vnetResult uint8

const (
	vnetOK      vnetResult = iota
	vnetBadCsum            // NEEDS_CSUM with csum_start/csum_offset outside the frame or misaligned
	vnetGSO                // a GSO super-frame: segmentation is not implemented
)

// vnetFinish applies the virtio-net header hdr to the frame that followed
// it: when the kernel asks for checksum completion (NEEDS_CSUM), it computes
// the Internet checksum from csum_start to the end of the frame and stores
// it at csum_start+csum_offset, as the kernel's skb_checksum_help does, so
// that consumers see correct checksums. GSO frames are refused (this package
// never enables TSO/UFO offloads, so the kernel does not send them).
func vnetFinish(hdr []byte, frame []byte) vnetResult {
	if hdr[1]&^unix.VIRTIO_NET_HDR_GSO_ECN != unix.VIRTIO_NET_HDR_GSO_NONE {
		return vnetGSO
	}
	if hdr[0]&unix.VIRTIO_NET_HDR_F_NEEDS_CSUM == 0 {
		return vnetOK
	}
	start := int(binary.NativeEndian.Uint16(hdr[6:8]))
	off := int(binary.NativeEndian.Uint16(hdr[8:10]))
	// An Internet checksum field is 16-bit aligned from where the sum
	// starts (TCP: 16, UDP: 6).
	if off%2 != 0 || start+off+2 > len(frame) {
		return vnetBadCsum
	}
	// The field holds the pseudo-header sum; summing over it includes it.
	sum := ^wire.Sum(frame[start:], 0)
	if sum == 0 {
		sum = 0xffff // CSUM_MANGLED_0: a UDP checksum of 0 means "none"
	}
	binary.BigEndian.PutUint16(frame[start+off:], sum)
	return vnetOK
}

// setIovec points v at b (an empty b gives an empty vector).
func setIovec(v *unix.Iovec, b []byte) {
	if len(b) == 0 {
		v.Base = nil
		v.SetLen(0)
		return
	}
	v.Base = unsafe.SliceData(b)
	v.SetLen(len(b))
}
