package lan

import "spacenet/ip/nic"

// frameForm says how a frame crossing the switch is held.
type frameForm uint8

const (
	// plainFrame: bytes is the whole frame.
	plainFrame frameForm = iota
	// vnetFrame: bytes is the whole frame as a pass-through port's reader
	// received it (possibly a GSO super-frame, or a frame whose checksum
	// is left to complete), and vnet its virtio-net header: the
	// nic.VnetHdrLen bytes before bytes in the same buffer.
	vnetFrame
	// refFrame: ref holds the frame (an in-process port sent it by
	// reference) and bytes is a copy of its start, at least its headers
	// (see ingressRefs).
	refFrame
)

// frame describes one frame crossing the switch, from the port it came in
// to the ports it goes out of. Its bytes belong to the ingress port (its
// receive buffers or scratch) and live while it is forwarded: an egress
// copies them, or takes another reference (refFrame). The descriptor
// itself is one variable of the ingress loop, whose fields that change
// are set per frame, passed down by pointer through static calls only:
// forwarding copies no descriptor, and it stays on the stack (an interface
// method taking it would move it to the heap).
type frame struct {
	form  frameForm
	bytes []byte
	vnet  []byte  // vnetFrame only
	ref   nic.Ref // refFrame only
	size  int     // the frame's length
	// wireLen is the length of the longest ordinary frame it stands for:
	// size, or for a GSO super-frame its headers and one segment.
	wireLen int
}

// plain describes the ordinary frame b.
func plain(b []byte) frame {
	return frame{form: plainFrame, bytes: b, size: len(b), wireLen: len(b)}
}

// offload reports whether f carries a virtio-net header that asks for
// work (GSO segmentation or checksum completion) before it is an ordinary
// frame.
func (f *frame) offload() bool { return f.form == vnetFrame && nic.VnetOffload(f.vnet) }

// raw returns a vnetFrame's header and bytes: contiguous, as they came.
func (f *frame) raw() []byte { return f.vnet[:nic.VnetHdrLen+len(f.bytes)] }
