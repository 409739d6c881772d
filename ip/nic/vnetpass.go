package nic

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// VnetHdrLen is the length of the virtio-net header (struct
// virtio_net_hdr) that RecvVnet and SendVnet put before every frame.
const VnetHdrLen = vnetHdrLen

// MaxSuperFrame is the longest Ethernet frame a VnetNIC carries: a 64 KiB
// GSO super-frame with its Ethernet header and one VLAN tag.
const MaxSuperFrame = 65535 + HeaderLen + 4

// VnetBufLen is the buffer length RecvVnet needs for any frame: the
// virtio-net header and MaxSuperFrame.
const VnetBufLen = VnetHdrLen + MaxSuperFrame

// VnetNIC is a NIC that can also carry frames with their virtio-net header
// (GSO super-frames of up to 64 KiB and frames whose TCP/UDP checksum is
// left to complete), so that a switch can pass them from one such NIC to
// another whole. Recv and Send keep working as NIC says (super-frames cut,
// checksums complete).
type VnetNIC interface {
	NIC
	// VnetPassThrough reports whether RecvVnet and SendVnet may be used.
	VnetPassThrough() bool
	// RecvVnet is Recv, but each buffer receives the virtio-net header
	// (VnetHdrLen bytes) followed by the frame as the kernel left it, and
	// sizes count both. Buffers of VnetBufLen bytes take any frame.
	RecvVnet(bufs [][]byte, sizes []int) (n int, err error)
	// SendVnet is Send for frames that each start with a virtio-net
	// header. A frame whose segments (or itself, without GSO) are longer
	// than MTU+HeaderLen is refused with ErrTooBig.
	SendVnet(frames [][]byte) (n int, err error)
	// TrySendVnet is SendVnet for one frame, without waiting: sent is
	// false (and err nil) if the device cannot take the frame now. Send,
	// SendVnet and TrySendVnet are called from one goroutine at a time.
	TrySendVnet(frame []byte) (sent bool, err error)
}

// VnetOffload reports whether the virtio-net header hdr asks for work
// (GSO segmentation or checksum completion) before the frame it describes
// is an ordinary frame.
func VnetOffload(hdr []byte) bool {
	return hdr[0]&unix.VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 || hdr[1]&^unix.VIRTIO_NET_HDR_GSO_ECN != unix.VIRTIO_NET_HDR_GSO_NONE
}

// VnetWireLen returns the length of the longest ordinary frame frame (with
// virtio-net header hdr) stands for: for a GSO super-frame, its headers
// plus one segment (gso_size); otherwise len(frame). It reports false for a
// super-frame that cannot be segmented here (unknown type, headers not
// readable, gso_size 0) and for a checksum request outside the frame.
func VnetWireLen(hdr, frame []byte) (int, bool) {
	if hdr[0]&unix.VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
		start := int(binary.NativeEndian.Uint16(hdr[6:8]))
		off := int(binary.NativeEndian.Uint16(hdr[8:10]))
		if off%2 != 0 || start+off+2 > len(frame) {
			return 0, false
		}
	}
	if hdr[1]&^unix.VIRTIO_NET_HDR_GSO_ECN == unix.VIRTIO_NET_HDR_GSO_NONE {
		return len(frame), true
	}
	var g gsoState
	if !g.parse(hdr, frame) {
		return 0, false
	}
	return min(g.hlen+g.mss, len(frame)), true
}

// Segmenter turns a frame with a virtio-net header into ordinary frames:
// a GSO super-frame into its segments (as the kernel's software GSO would),
// a frame with a checksum to complete into that frame with its checksum
// completed. It copies the frame, so the original is left as it was. The
// zero value is ready; it allocates its 64 KiB buffer on first use only.
type Segmenter struct {
	g   gsoState
	one bool // a single frame (no GSO) waits in g.buf[:g.n]
}

// Start takes frame (described by hdr) and reports whether it can be made
// into ordinary frames; if not (malformed GSO or checksum request), Next
// returns nothing.
func (s *Segmenter) Start(hdr, frame []byte) bool {
	s.one = false
	s.g.active = false
	if _, ok := VnetWireLen(hdr, frame); !ok {
		return false
	}
	if hdr[1]&^unix.VIRTIO_NET_HDR_GSO_ECN != unix.VIRTIO_NET_HDR_GSO_NONE {
		return s.g.start(hdr, frame, nil)
	}
	if len(s.g.buf) < len(frame) {
		s.g.buf = make([]byte, max(len(frame), MaxSuperFrame))
	}
	s.g.n = copy(s.g.buf, frame)
	if vnetFinish(hdr, s.g.buf[:s.g.n]) != vnetOK {
		return false
	}
	s.one = true
	return true
}

// Next writes the next ordinary frame into dst and returns its length; ok
// is false when there are no more. A frame longer than dst is skipped and
// returned as n = -1.
func (s *Segmenter) Next(dst []byte) (n int, ok bool) {
	if s.one {
		s.one = false
		if s.g.n > len(dst) {
			return -1, true
		}
		return copy(dst, s.g.buf[:s.g.n]), true
	}
	if !s.g.active {
		return 0, false
	}
	return s.g.next(dst), true
}

// VnetPassThrough reports whether the TAP was opened with
// TAPOptions.PassThrough.
func (t *TAP) VnetPassThrough() bool { return t.pass }

var _ VnetNIC = (*TAP)(nil)

var errNoPassThrough = fmt.Errorf("nic: TAP not opened with PassThrough")

// RecvVnet implements VnetNIC: one read(2) per frame, header kept, GSO
// super-frames whole, checksums left as the kernel left them. A frame
// longer than its buffer is dropped and counted (RxTooBig); one shorter
// than a header is counted RxFraming.
func (t *TAP) RecvVnet(bufs [][]byte, sizes []int) (int, error) {
	if !t.pass {
		return 0, fmt.Errorf("nic: %s: recv: %w", t.name, errNoPassThrough)
	}
	if min(len(bufs), len(sizes)) == 0 {
		return 0, nil
	}
	if t.gso.active {
		// Recv was cutting a super-frame: finish that first.
		return t.Recv(bufs, sizes)
	}
	t.rbufs, t.rsizes, t.rn, t.rerr = bufs, sizes, 0, nil
	return t.read(t.readVnetFn)
}

func (t *TAP) doReadVnet(fd uintptr) bool {
	limit := min(len(t.rbufs), len(t.rsizes))
	for t.rn < limit {
		buf := t.rbufs[t.rn]
		setIovec(&t.riov[0], buf)
		setIovec(&t.riov[1], t.scratch)
		n, e := readv(fd, t.riov[:2])
		if e != 0 {
			return t.readErr(e)
		}
		switch {
		case n < vnetHdrLen+HeaderLen:
			t.st.rxFraming.Add(1)
			continue
		case n > len(buf):
			t.st.rxTooBig.Add(1)
			continue
		}
		t.rsizes[t.rn] = n
		t.rn++
		t.st.rx(n - vnetHdrLen)
	}
	return true
}

// SendVnet implements VnetNIC: one write(2) per frame, header included.
func (t *TAP) SendVnet(frames [][]byte) (int, error) {
	if !t.pass {
		return 0, fmt.Errorf("nic: %s: send: %w", t.name, errNoPassThrough)
	}
	return t.write(frames, t.writeVnetFn)
}

// TrySendVnet implements VnetNIC: one write(2), never waiting for the
// device (EAGAIN: sent false, err nil).
func (t *TAP) TrySendVnet(frame []byte) (bool, error) {
	t.noWait = true
	t.one[0] = frame
	n, err := t.SendVnet(t.one[:])
	t.one[0] = nil
	t.noWait = false
	return n == 1, err
}

func (t *TAP) doWriteVnet(fd uintptr) bool {
	for t.sn < len(t.sframes) {
		f := t.sframes[t.sn]
		wire, ok := 0, len(f) >= vnetHdrLen+HeaderLen
		if ok {
			wire, ok = VnetWireLen(f[:vnetHdrLen], f[vnetHdrLen:])
		}
		if !ok || wire > t.mtu+HeaderLen || len(f) > VnetBufLen {
			t.st.txTooBig.Add(1)
			t.serr = fmt.Errorf("nic: %s: send frame %d: %d bytes (segments of %d) not a frame of at most MTU %d + %d: %w", t.name, t.sn, len(f), wire, t.mtu, HeaderLen, ErrTooBig)
			return true
		}
		_, _, e := unix.Syscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&f[0])), uintptr(len(f)))
		switch e {
		case 0:
			t.st.tx(len(f) - vnetHdrLen)
			t.sn++
		case unix.EINTR:
		case unix.EAGAIN:
			return t.noWait // TrySendVnet: give up rather than wait
		default:
			t.st.txErrors.Add(1)
			t.serr = fmt.Errorf("nic: %s: send frame %d (%d bytes): %w", t.name, t.sn, len(f), e)
			return true
		}
	}
	return true
}
