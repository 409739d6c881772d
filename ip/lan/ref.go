package lan

import (
	"fmt"
	"sync"

	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

// refHeadLen is how much of a frame held by reference the switch copies
// to read its headers: Ethernet, two VLAN tags, an IPv6 header and the
// fixed part of an NDP message (86 bytes) fit. Port security reads an NDP message's
// options to its end: such a frame, if longer, is copied whole.
const refHeadLen = 128

// ByRefNIC is the NIC of a by-reference in-process port (AttachRef), a
// nic.RefNIC. Besides nic.NIC (frames copied in and out, as MemNIC),
// SendRefs hands frames to the switch by reference (nic.Ref) and RecvRefs
// hands them out the same way: a frame between two by-reference ports is
// never copied. A frame sent by reference to a port of another kind (TAP,
// QEMU, MemNIC) is copied once, into that port's queue. Frames from ports
// of other kinds reach RecvRefs as copies.
//
// Send and SendRefs share the port's ingress scratch: call them from one
// goroutine at a time; likewise Recv and RecvRefs.
type ByRefNIC struct {
	MemNIC
	monMu sync.Mutex // guards mon
	mon   []byte     // materialises frames held by reference for the Monitor (Out)
}

var _ nic.RefNIC = (*ByRefNIC)(nil)
var _ nic.StatsReporter = (*ByRefNIC)(nil)

// AttachRef adds an in-process port described by pc (MTU 0 means
// nic.DefaultMTU, at most 65535) that passes frames by reference, and
// returns its NIC. Everything the switch does for a frame (MTU, port
// security, learning, flooding, tenants, the queue bound, counters, the
// Monitor) it does for frames sent by reference; the port's queue holds
// references, so it costs no slot memory up front. Closing the NIC (or
// the switch) releases the references still queued.
func (s *Switch) AttachRef(pc PortConfig) (*ByRefNIC, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.newMemPort(pc)
	if err != nil {
		return nil, err
	}
	p.out = refEgress{}
	p.q = newRefQueue(p.depth, p.size)
	p.head = make([]byte, refHeadLen)
	r := &ByRefNIC{MemNIC: MemNIC{p: p}}
	if s.opts.Monitor != nil || p.g.active() {
		p.whole = make([]byte, p.size)
	}
	if s.opts.Monitor != nil {
		r.mon = make([]byte, p.size)
	}
	r.errClosed = fmt.Errorf("lan: port %s: %w", p.name, nic.ErrClosed)
	s.plug(p)
	return r, nil
}

// SendRefs implements nic.RefNIC: it forwards frames held by reference
// into the switch, in the caller's goroutine, and takes over every
// reference in refs whatever it returns: each is queued at its
// destinations (as another reference, or a copy for ports of other kinds)
// and released. It returns how many frames the switch took. A frame longer than MTU+14 is released and
// counted in the port's RxDrops[ReasonMTU]; the others still go, and the
// error wraps nic.ErrTooBig. After Close it releases them all and returns
// an error wrapping nic.ErrClosed. It clears refs.
func (r *ByRefNIC) SendRefs(refs []nic.Ref) (int, error) {
	p := r.p
	if r.closed.Load() || p.closing.Load() {
		for i, ref := range refs {
			if ref != nil {
				ref.Release()
			}
			refs[i] = nil
		}
		return 0, r.errClosed
	}
	var err error
	sent := 0
	for len(refs) > 0 {
		k := min(len(p.frames), len(refs))
		n, e := r.forwardRefs(refs[:k])
		sent += n
		if e != nil && err == nil {
			err = e
		}
		clear(refs[:k])
		refs = refs[k:]
	}
	return sent, err
}

// forwardRefs forwards one batch and releases its references.
func (r *ByRefNIC) forwardRefs(refs []nic.Ref) (int, error) {
	p := r.p
	var err error
	n := 0
	for i, ref := range refs {
		if ref == nil {
			continue
		}
		if l := ref.Len(); l > p.size {
			p.st.rxFrames.Add(1)
			p.st.rxBytes.Add(uint64(l))
			p.st.rxDrops[ReasonMTU].Add(1)
			if err == nil {
				err = fmt.Errorf("lan: port %s: send frame %d: %d bytes > MTU %d + %d: %w", p.name, i, l, p.mtu, nic.HeaderLen, nic.ErrTooBig)
			}
			ref.Release()
			refs[i] = nil
			continue
		}
		n++
	}
	p.sw.ingressRefs(p, refs)
	for _, ref := range refs {
		if ref != nil {
			ref.Release()
		}
	}
	return n, err
}

// ingressRefs is ingress for frames held by reference (nil entries are
// skipped); it does not release them. Each frame's start is copied into
// the port's scratch for the checks; the whole frame only for the
// Monitor, or for port security on an NDP message longer than that.
func (s *Switch) ingressRefs(in *port, refs []nic.Ref) {
	mon := s.opts.Monitor
	now := s.clock.Now().UnixNano()
	t := s.topo.Load()
	pending := in.pending[:0]
	var bytes uint64
	fr := frame{form: refFrame} // one descriptor for the batch
	// Counted received before any is counted dropped, as ingress does.
	var frames uint64
	for _, ref := range refs {
		if ref != nil {
			frames++
		}
	}
	in.st.rxFrames.Add(frames)
	s.macs.mu.RLock()
	for _, ref := range refs {
		if ref == nil {
			continue
		}
		size := ref.Len()
		bytes += uint64(size)
		var f []byte
		if mon != nil {
			f = in.whole[:ref.CopyTo(in.whole[:size])]
			mon(in.name, In, f)
		} else {
			f = in.head[:ref.CopyTo(in.head)]
			if len(f) < size && in.g.active() && ndpFrame(f) {
				f = in.whole[:ref.CopyTo(in.whole[:size])]
			}
		}
		fr.bytes, fr.ref, fr.size, fr.wireLen = f, ref, size, size
		if r := s.forward(in, t, &fr, now, &pending); r != NumReasons {
			in.st.rxDrops[r].Add(1)
			s.logRefused(in, r)
		}
	}
	s.macs.mu.RUnlock()
	in.st.rxBytes.Add(bytes)
	s.afterBatch(in, pending, now)
}

// ndpFrame reports whether f, the start of a frame, is an IPv6 neighbour
// solicitation or advertisement (behind up to two VLAN tags).
func ndpFrame(f []byte) bool {
	if len(f) < wire.EthernetSize {
		return false
	}
	et, l3, ok := wire.Untag(f)
	if !ok || et != wire.EtherTypeIPv6 {
		return false
	}
	ip, ok := wire.PeekIPv6(l3)
	if !ok || ip.NextHeader() != wire.ProtoICMPv6 {
		return false
	}
	_, ndp, _ := wire.PeekNDP(l3[wire.IPv6Size:])
	return ndp
}

// RecvRefs implements nic.RefNIC: it waits for frames switched to this
// port, like Recv, but hands frames that came by reference over as they
// are. For i < n: refs[i] is not nil (the caller owns that reference and
// releases it) and sizes[i] is its length, or refs[i] is nil and
// bufs[i][:sizes[i]] holds a copied frame (from a port of another kind). A copied frame longer than its
// buffer is dropped and counted in TxDrops[ReasonMTU], never truncated.
func (r *ByRefNIC) RecvRefs(refs []nic.Ref, bufs [][]byte, sizes []int) (int, error) {
	if min(len(refs), len(bufs), len(sizes)) == 0 {
		return 0, nil
	}
	p := r.p
	for {
		if r.closed.Load() {
			return 0, r.errClosed
		}
		n, _ := p.q.takeRefs(refs, bufs, sizes, &p.st)
		if n > 0 {
			if mon := p.sw.opts.Monitor; mon != nil {
				r.monitorOut(mon, refs[:n], bufs, sizes)
			}
			return n, nil
		}
		if !p.q.wait() {
			return 0, r.errClosed
		}
	}
}

// monitorOut shows the Monitor the frames RecvRefs hands out, copying
// those held by reference.
func (r *ByRefNIC) monitorOut(mon Monitor, refs []nic.Ref, bufs [][]byte, sizes []int) {
	r.monMu.Lock()
	defer r.monMu.Unlock()
	for i, ref := range refs {
		if ref != nil {
			mon(r.p.name, Out, r.mon[:ref.CopyTo(r.mon)])
		} else {
			mon(r.p.name, Out, bufs[i][:sizes[i]])
		}
	}
}
