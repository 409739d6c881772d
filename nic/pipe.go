package nic

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// NewPipe returns the two ends of an in-memory link, like a cable between
// two NICs: frames sent on a are received on b and the other way round.
//
// Each direction is a ring of depth preallocated buffers of
// mtu+HeaderLen bytes; Send copies frames in and Recv copies them out, so
// neither allocates. When depth frames are waiting, Send blocks until the
// other end receives (backpressure: a Pipe never drops a frame it accepted).
// Send refuses a frame longer than mtu+HeaderLen with ErrTooBig.
//
// Closing either end unplugs the cable: on the closed end Recv and Send
// return ErrClosed at once; on the other end Send returns ErrClosed and Recv
// returns the frames already queued to it, then ErrClosed. Blocked calls on
// both ends return. The ends are named "pipe:a" and "pipe:b".
//
// NewPipe panics if mtu is not in [0, 65535] or depth < 1.
func NewPipe(mtu, depth int) (a, b NIC) {
	if mtu < 0 || mtu > 65535 || depth < 1 {
		panic(fmt.Sprintf("nic: NewPipe(mtu %d, depth %d): need 0 <= mtu <= 65535 and depth >= 1", mtu, depth))
	}
	ab, ba := newPipeDir(mtu+HeaderLen, depth), newPipeDir(mtu+HeaderLen, depth)
	done := make(chan struct{})
	once := new(sync.Once)
	pa := &PipeEnd{name: "pipe:a", mtu: mtu, rx: ba, tx: ab, done: done, once: once}
	pb := &PipeEnd{name: "pipe:b", mtu: mtu, rx: ab, tx: ba, done: done, once: once}
	pa.peer, pb.peer = pb, pa
	for _, p := range []*PipeEnd{pa, pb} {
		p.errClosed = fmt.Errorf("nic: %s: %w", p.name, ErrClosed)
		p.errPeerClosed = fmt.Errorf("nic: %s: peer %s closed: %w", p.name, p.peer.name, ErrClosed)
	}
	return pa, pb
}

// pipeDir is one direction of a pipe: a ring of slots, whose indices
// circulate between free (owned by the sender) and full (owned by the
// receiver). The channels carry the happens-before edges for the slot
// contents.
type pipeDir struct {
	bufs [][]byte
	lens []int
	free chan int
	full chan int
}

func newPipeDir(size, depth int) *pipeDir {
	d := &pipeDir{
		bufs: make([][]byte, depth),
		lens: make([]int, depth),
		free: make(chan int, depth),
		full: make(chan int, depth),
	}
	mem := make([]byte, size*depth)
	for i := range d.bufs {
		d.bufs[i] = mem[i*size : (i+1)*size : (i+1)*size]
		d.free <- i
	}
	return d
}

// PipeEnd is one end of a pipe made by NewPipe.
type PipeEnd struct {
	name   string
	mtu    int
	rx, tx *pipeDir
	peer   *PipeEnd

	done   chan struct{} // closed when either end is closed
	once   *sync.Once    // closes done
	closed atomic.Bool   // this end was closed

	errClosed, errPeerClosed error // preallocated: returning them allocates nothing
	st                       counters
}

var _ NIC = (*PipeEnd)(nil)
var _ StatsReporter = (*PipeEnd)(nil)

// Name returns "pipe:a" or "pipe:b".
func (p *PipeEnd) Name() string { return p.name }

// MTU returns the mtu given to NewPipe.
func (p *PipeEnd) MTU() int { return p.mtu }

// Stats returns this end's counters.
func (p *PipeEnd) Stats() Stats { return p.st.snapshot() }

func (p *PipeEnd) closedErr() error {
	if p.closed.Load() {
		return p.errClosed
	}
	return p.errPeerClosed
}

// Recv implements NIC. It returns at most min(len(bufs), len(sizes)) frames
// and returns 0, nil at once if that is zero.
func (p *PipeEnd) Recv(bufs [][]byte, sizes []int) (int, error) {
	max := min(len(bufs), len(sizes))
	if max == 0 {
		return 0, nil
	}
	rx := p.rx
	for {
		if p.closed.Load() {
			return 0, p.errClosed
		}
		var i int
		select {
		case i = <-rx.full:
		default:
			select {
			case i = <-rx.full:
			case <-p.done:
				if p.closed.Load() {
					return 0, p.errClosed
				}
				// The peer closed: hand over what it sent before.
				select {
				case i = <-rx.full:
				default:
					return 0, p.errPeerClosed
				}
			}
		}
		n := 0
		for {
			l := rx.lens[i]
			if l > len(bufs[n]) {
				p.st.rxTooBig.Add(1)
			} else {
				sizes[n] = copy(bufs[n], rx.bufs[i][:l])
				p.st.rx(l)
				n++
			}
			rx.free <- i // never blocks: free has room for every slot
			if n == max {
				return n, nil
			}
			select {
			case i = <-rx.full:
				continue
			default:
			}
			break
		}
		if n > 0 {
			return n, nil
		}
		// Every waiting frame was too big for its buffer: wait for more.
	}
}

// Send implements NIC. It blocks while the other end has depth frames
// waiting.
func (p *PipeEnd) Send(frames [][]byte) (int, error) {
	if p.closed.Load() {
		return 0, p.errClosed
	}
	select {
	case <-p.done:
		return 0, p.closedErr()
	default:
	}
	tx := p.tx
	for k, f := range frames {
		if len(f) > p.mtu+HeaderLen {
			p.st.txTooBig.Add(1)
			return k, fmt.Errorf("nic: %s: send frame %d: %d bytes > MTU %d + %d: %w", p.name, k, len(f), p.mtu, HeaderLen, ErrTooBig)
		}
		var i int
		select {
		case i = <-tx.free:
		default:
			select {
			case i = <-tx.free:
			case <-p.done:
				return k, p.closedErr()
			}
		}
		tx.lens[i] = copy(tx.bufs[i], f)
		tx.full <- i // never blocks: full has room for every slot
		p.st.tx(len(f))
	}
	return len(frames), nil
}

// Close implements NIC: it unplugs the pipe (see NewPipe). Closing an end
// again does nothing and returns nil.
func (p *PipeEnd) Close() error {
	p.closed.Store(true)
	p.once.Do(func() { close(p.done) })
	return nil
}
