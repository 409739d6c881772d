// Package nic moves Ethernet frames between this process and a network: a
// TAP device, an AF_PACKET socket on an existing interface, a QEMU guest on a
// unix socket, a peer VXLAN tunnel endpoint over UDP (VXLAN), or another NIC
// in the same process (Pipe).
//
// Every adapter implements NIC, whose Recv and Send move many frames per call
// through buffers the caller owns, so that a forwarding loop allocates nothing
// in steady state. Every adapter also implements StatsReporter: frames and
// bytes each way, and every frame refused, by reason.
//
// A RefNIC also moves frames by reference (Ref), never copying them, between
// network stacks and the LAN switch in one process.
//
// Package nic does not parse headers itself (GSO segmentation and checksum
// completion read and write them through package wire's views), does not
// switch frames (see package lan) and does not choose MAC addresses for
// ports.
package nic

import "errors"

// ErrClosed is returned (wrapped) by Recv and Send after Close.
var ErrClosed = errors.New("nic: closed")

// ErrTooBig is returned (wrapped, with the frame's index and length) by Send
// for a frame longer than MTU+HeaderLen; the frames before it were sent.
var ErrTooBig = errors.New("frame too big")

// ErrFraming is returned (wrapped) when a peer breaks the framing of a unix
// socket stream (see QEMUStream); the stream cannot be resynchronised, so
// the peer is disconnected.
var ErrFraming = errors.New("framing error")

// HeaderLen is the length of the Ethernet header (destination, source,
// EtherType) that MTU does not count: a NIC carries frames of at most
// MTU()+HeaderLen bytes.
const HeaderLen = 14

// NIC is one network interface carrying Ethernet frames (no preamble, no
// FCS). Recv and Send may be called from different goroutines; each of them
// is called from one goroutine at a time.
type NIC interface {
	// Recv blocks until at least one frame has arrived, then copies up to
	// len(bufs) frames into bufs, the i-th frame's length into sizes[i],
	// and returns how many frames it filled. A frame longer than its buffer
	// is dropped and counted, never truncated. After Close, Recv returns an
	// error wrapping ErrClosed.
	Recv(bufs [][]byte, sizes []int) (n int, err error)

	// Send transmits frames in order and returns how many were accepted.
	// It blocks while the device applies backpressure. A short count comes
	// with an error that says why.
	Send(frames [][]byte) (n int, err error)

	// MTU is the largest Ethernet payload (not counting the 14-byte header)
	// the NIC carries.
	MTU() int

	// Name identifies the device in errors and logs ("tap0", "pipe:a").
	Name() string

	// Close releases the device and unblocks Recv and Send.
	Close() error
}

// StatsReporter is implemented by every NIC in this package.
type StatsReporter interface {
	// Stats returns a snapshot of the NIC's counters since it was opened.
	Stats() Stats
}
