package lan

import (
	"errors"
	"sync"

	"spacenet/ip/nic"
)

// egress is how frames leave a port: one type per kind of port. Every
// kind has a bounded queue (port.q) between the ports forwarding to it and
// its consumer; the kinds differ in what the queue holds (see
// port.deliver), who drains it and what reaches the NIC. The forwarding
// path tells the kinds apart by type (port.deliver, forward, readLoop,
// writeLoop) rather than through a method of this interface, so that the
// frame descriptor it passes by pointer stays on the stack.
type egress interface {
	// device returns the NIC behind the port; nil for in-process ports.
	device() nic.NIC
	// name is what PortStats.NIC says: the NIC's name, "mem" or "ref".
	name() string
}

// memEgress is the egress of an in-process port (AttachMem): frames are
// copied into the queue's slots (a GSO super-frame is cut into segments
// first), and MemNIC.Recv copies them out.
type memEgress struct{}

// nicEgress is the egress of a port with a NIC that takes ordinary frames
// (Attach): frames are copied into the queue's slots (a GSO super-frame
// cut into segments first), and the port's writer sends them with
// NIC.Send.
type nicEgress struct{ nic nic.NIC }

// vnetEgress is the egress of a port whose NIC passes frames with their
// virtio-net header (a nic.VnetNIC with pass-through, on a switch without
// a Monitor): queue slots hold a header and a frame (a GSO super-frame
// whole), the writer sends them with SendVnet, and a frame from another
// such port may be written straight out (sendDirect).
type vnetEgress struct {
	vn nic.VnetNIC
	// sendMu is held by whoever sends on vn: the writer (from taking
	// frames off the queue until they are sent) or another port's reader
	// writing a frame straight out (sendDirect).
	sendMu sync.Mutex
}

// refEgress is the egress of a by-reference in-process port (AttachRef):
// its queue takes another reference to a frame held by reference and a
// copy of any other (segments of a GSO super-frame), and ByRefNIC.RecvRefs
// hands references out.
type refEgress struct{}

func (memEgress) device() nic.NIC     { return nil }
func (e *nicEgress) device() nic.NIC  { return e.nic }
func (e *vnetEgress) device() nic.NIC { return e.vn }
func (refEgress) device() nic.NIC     { return nil }

func (memEgress) name() string     { return "mem" }
func (e *nicEgress) name() string  { return e.nic.Name() }
func (e *vnetEgress) name() string { return e.vn.Name() }
func (refEgress) name() string     { return "ref" }

// sendDirect writes f (a vnetFrame that fits p) out of p's NIC in the
// caller's goroutine (another pass-through port's reader) when p's writer
// is idle and its queue empty, which saves a copy and a goroutine
// hand-off; it never waits for the device. Otherwise it queues f behind
// the frames already waiting (order is kept: the writer holds sendMu from
// taking frames off the queue until they are sent).
func (e *vnetEgress) sendDirect(p, in *port, f *frame) {
	if e.sendMu.TryLock() {
		if p.q.idle() {
			sent, err := e.vn.TrySendVnet(f.raw())
			e.sendMu.Unlock()
			switch {
			case sent:
				p.st.txFrames.Add(1)
				p.st.txBytes.Add(uint64(len(f.bytes)))
				return
			case err == nil:
				// The device cannot take it now: the writer will wait.
			case p.closing.Load() || errors.Is(err, nic.ErrClosed):
				p.st.txDrops[ReasonDown].Add(1)
				return
			default:
				p.st.txDrops[ReasonTxError].Add(1)
				p.logTxError(err)
				return
			}
		} else {
			e.sendMu.Unlock()
		}
	}
	p.enqueue(in, f)
}
