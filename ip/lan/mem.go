package lan

import (
	"fmt"
	"sync/atomic"

	"spacenet/ip/nic"
)

// MemNIC is the NIC of an in-process port (AttachPipe, AttachMem): hand it
// to a network stack in this process. Send forwards the frames in the
// caller's goroutine (copying each into its destinations' queues); Recv
// copies frames out of the port's queue. Close detaches the port.
type MemNIC struct {
	p         *port
	closed    atomic.Bool
	errClosed error
}

var _ nic.NIC = (*MemNIC)(nil)
var _ nic.StatsReporter = (*MemNIC)(nil)

// Name returns "lan:" and the port's name.
func (m *MemNIC) Name() string { return "lan:" + m.p.name }

// MTU returns the port's MTU.
func (m *MemNIC) MTU() int { return m.p.mtu }

// Send implements nic.NIC: it forwards frames into the switch. A frame
// longer than MTU+14 stops it with nic.ErrTooBig (the frames before it are
// forwarded) and is counted in the port's RxDrops[ReasonMTU].
func (m *MemNIC) Send(frames [][]byte) (int, error) {
	if m.closed.Load() || m.p.closing.Load() {
		return 0, m.errClosed
	}
	for k, f := range frames {
		if len(f) > m.p.size {
			if k > 0 {
				m.forward(frames[:k])
			}
			m.p.st.rxFrames.Add(1)
			m.p.st.rxBytes.Add(uint64(len(f)))
			m.p.st.rxDrops[ReasonMTU].Add(1)
			return k, fmt.Errorf("lan: port %s: send frame %d: %d bytes > MTU %d + %d: %w", m.p.name, k, len(f), m.p.mtu, nic.HeaderLen, nic.ErrTooBig)
		}
	}
	m.forward(frames)
	return len(frames), nil
}

// forward hands frames to the switch in batches of the port's scratch size.
func (m *MemNIC) forward(frames [][]byte) {
	b := len(m.p.frames)
	for len(frames) > 0 {
		k := min(b, len(frames))
		m.p.sw.ingress(m.p, frames[:k], nil)
		frames = frames[k:]
	}
}

// Recv implements nic.NIC: it waits for frames switched to this port. A
// frame longer than its buffer is dropped and counted in the port's
// TxDrops[ReasonMTU] (and in Stats().RxTooBig).
func (m *MemNIC) Recv(bufs [][]byte, sizes []int) (int, error) {
	if min(len(bufs), len(sizes)) == 0 {
		return 0, nil
	}
	p := m.p
	for {
		if m.closed.Load() {
			return 0, m.errClosed
		}
		n, _ := p.q.take(bufs, sizes, &p.st)
		if n > 0 {
			if mon := p.sw.opts.Monitor; mon != nil {
				for i := range n {
					mon(p.name, Out, bufs[i][:sizes[i]])
				}
			}
			return n, nil
		}
		if !p.q.wait() {
			return 0, m.errClosed
		}
	}
}

// Close detaches the port; blocked Recv calls return nic.ErrClosed.
func (m *MemNIC) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	m.p.sw.Detach(m.p.name) // fails only if the switch already dropped it
	m.p.q.close()
	return nil
}

// Stats reports the port's counters from the NIC's side: what the stack
// received (Rx) and sent (Tx).
func (m *MemNIC) Stats() nic.Stats {
	s := m.p.stats()
	return nic.Stats{
		RxFrames: s.TxFrames, RxBytes: s.TxBytes, RxTooBig: s.TxDrops[ReasonMTU],
		TxFrames: s.RxFrames - s.RxDrops[ReasonMTU], TxBytes: s.RxBytes, TxTooBig: s.RxDrops[ReasonMTU],
	}
}
