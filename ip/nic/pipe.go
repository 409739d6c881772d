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

// pipeDir is one direction of a pipe: a single-producer single-consumer
// ring of depth slots. tail (written by the sender) and head (written by
// the receiver) count frames since the start; the slots in [head, tail)
// hold frames, the others are free. Frames are copied outside any lock:
// the atomic stores of tail and head publish the slots' contents. A side
// that finds the ring empty (full) sets its waiting flag, checks again and
// sleeps on its channel; the other side wakes it after publishing.
type pipeDir struct {
	bufs  [][]byte
	lens  []int
	depth uint64

	tail, head atomic.Uint64
	_          [48]byte // keep the sender's and receiver's lines apart

	rwait, swait atomic.Bool
	notEmpty     chan struct{} // cap 1: wakes a receiver
	notFull      chan struct{} // cap 1: wakes a sender
}

func newPipeDir(size, depth int) *pipeDir {
	d := &pipeDir{
		bufs:     make([][]byte, depth),
		lens:     make([]int, depth),
		depth:    uint64(depth),
		notEmpty: make(chan struct{}, 1),
		notFull:  make(chan struct{}, 1),
	}
	mem := make([]byte, size*depth)
	for i := range d.bufs {
		d.bufs[i] = mem[i*size : (i+1)*size : (i+1)*size]
	}
	return d
}

func wake(waiting *atomic.Bool, ch chan struct{}) {
	if waiting.Load() && waiting.CompareAndSwap(true, false) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
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
	head := rx.head.Load() // only this goroutine stores head
	for {
		if p.closed.Load() {
			return 0, p.errClosed
		}
		avail := rx.tail.Load() - head
		if avail == 0 {
			rx.rwait.Store(true)
			if avail = rx.tail.Load() - head; avail == 0 {
				select {
				case <-rx.notEmpty:
					continue
				case <-p.done:
					rx.rwait.Store(false)
					if p.closed.Load() {
						return 0, p.errClosed
					}
					// The peer closed: hand over what it sent before.
					if avail = rx.tail.Load() - head; avail == 0 {
						return 0, p.errPeerClosed
					}
				}
			}
			rx.rwait.Store(false)
		}
		n := 0
		var took uint64
		for took < avail && n < max {
			i := (head + took) % rx.depth
			took++
			l := rx.lens[i]
			if l > len(bufs[n]) {
				p.st.rxTooBig.Add(1)
				continue
			}
			sizes[n] = copy(bufs[n], rx.bufs[i][:l])
			p.st.rx(l)
			n++
		}
		head += took
		rx.head.Store(head)
		wake(&rx.swait, rx.notFull)
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
	tail := tx.tail.Load() // only this goroutine stores tail
	k := 0
	for k < len(frames) {
		free := tx.depth - (tail - tx.head.Load())
		if free == 0 {
			tx.swait.Store(true)
			if free = tx.depth - (tail - tx.head.Load()); free == 0 {
				select {
				case <-tx.notFull:
					continue
				case <-p.done:
					tx.swait.Store(false)
					return k, p.closedErr()
				}
			}
			tx.swait.Store(false)
		}
		var put uint64
		var err error
		for ; put < free && k < len(frames); k++ {
			f := frames[k]
			if len(f) > p.mtu+HeaderLen {
				p.st.txTooBig.Add(1)
				err = fmt.Errorf("nic: %s: send frame %d: %d bytes > MTU %d + %d: %w", p.name, k, len(f), p.mtu, HeaderLen, ErrTooBig)
				break
			}
			i := (tail + put) % tx.depth
			tx.lens[i] = copy(tx.bufs[i], f)
			put++
			p.st.tx(len(f))
		}
		tail += put
		tx.tail.Store(tail)
		wake(&tx.rwait, tx.notEmpty)
		if err != nil {
			return k, err
		}
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
