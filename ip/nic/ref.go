package nic

// Ref is a frame held by reference: the frame stays in its owner's memory
// (a network stack's packet buffer) and crosses a RefNIC without its bytes
// being copied. A Ref is one reference; every Ref obtained (passed to
// SendRefs, returned by Clone or RecvRefs) is released exactly once. Its
// bytes must not change while any reference lives. Len, CopyTo and Clone
// may be called from several goroutines at once (a frame a switch floods
// is read by every port it went to).
type Ref interface {
	// Len is the frame's length in bytes (Ethernet header included).
	Len() int
	// CopyTo copies the first min(len(dst), Len()) bytes of the frame into
	// dst and returns how many it copied.
	CopyTo(dst []byte) int
	// Clone returns another reference to the same frame.
	Clone() Ref
	// Release gives this reference up.
	Release()
}

// RefNIC is a NIC that can also move frames by reference: besides Send and
// Recv (frames copied in and out), SendRefs hands frames over as Refs and
// RecvRefs hands them out the same way, so that a frame between two
// RefNICs in one process is never copied. The LAN switch's by-reference
// in-process ports (lan.Switch.AttachRef) are RefNICs; a network stack
// (package netstack) uses SendRefs and RecvRefs when its NIC is one.
//
// Send and SendRefs are called from one goroutine at a time; likewise Recv
// and RecvRefs.
type RefNIC interface {
	NIC
	// SendRefs takes over every reference in refs whatever it returns (each
	// is delivered, as another reference or a copy, and released, or
	// released as refused), clears refs and returns how many frames it
	// accepted. A frame longer than MTU+HeaderLen is refused (the others
	// still go) and the error wraps ErrTooBig; after Close it releases them
	// all and returns an error wrapping ErrClosed.
	SendRefs(refs []Ref) (n int, err error)
	// RecvRefs blocks like Recv, then hands out up to min(len(refs),
	// len(bufs), len(sizes)) frames. For i < n: refs[i] is not nil (the
	// caller owns that reference and releases it) and sizes[i] is its
	// length, or refs[i] is nil and bufs[i][:sizes[i]] holds a copied
	// frame. A copied frame longer than its buffer is dropped and counted,
	// never truncated.
	RecvRefs(refs []Ref, bufs [][]byte, sizes []int) (n int, err error)
}
