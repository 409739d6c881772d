package nic

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
)

// DefaultMTU is the MTU of the QEMU socket NICs unless QEMUOptions says
// otherwise: what a QEMU guest's virtio-net uses by default.
const DefaultMTU = 1500

// QEMUOptions configures the QEMU socket NICs.
type QEMUOptions struct {
	// MTU is the largest payload carried; 0 means DefaultMTU. A stream
	// length prefix or a datagram above MTU+HeaderLen is refused.
	MTU int
	// OnPeer, if set, is called when a listening stream's peer connects
	// ("connected"; "replaced" when it replaces a peer) or goes
	// ("disconnected"), with the peer's generation, outside any lock. It
	// must not block (log through an asynchronous handler).
	OnPeer func(event string, generation uint64)
}

func qemuMTU(opts []QEMUOptions) (int, error) {
	mtu := DefaultMTU
	if len(opts) > 0 && opts[0].MTU != 0 {
		mtu = opts[0].MTU
	}
	if mtu < 0 || mtu > 65535 {
		return 0, fmt.Errorf("MTU %d not in [0, 65535]", mtu)
	}
	return mtu, nil
}

// streamPrefix is the length of the big-endian frame length that QEMU's
// stream netdev puts before every frame.
const streamPrefix = 4

// QEMUStream speaks the framing of QEMU's `-netdev stream` (and of the
// older `-netdev socket`) over a unix stream socket: every frame is
// preceded by its length as a 4-byte big-endian integer.
//
// A listening QEMUStream (ListenQEMUStream, for a QEMU started with
// `-netdev stream,id=n0,server=off,addr.type=unix,addr.path=P`) has one
// peer at a time: a new connection replaces the current peer, whose
// connection is closed. While no peer is connected, Recv waits for one and
// Send drops frames, counted in Stats.TxNoPeer (a switch port without a
// cable). When a peer disconnects, the listener waits for the next.
//
// A dialling QEMUStream (DialQEMUStream, for a QEMU started with
// `-netdev stream,id=n0,server=on,addr.type=unix,addr.path=P`) has the one
// peer it connected to; when that peer goes, Recv and Send return errors
// (wrapping io.EOF or the socket's error) until Close.
//
// A length prefix of 0 or above MTU+HeaderLen is a framing error: the
// stream cannot be resynchronised, so the peer is disconnected, the error is
// counted (Stats.RxFraming) and Recv returns an error wrapping ErrFraming
// once (after the frames before it). A listener then waits for a new peer.
type QEMUStream struct {
	name string
	mtu  int
	ln   *net.UnixListener // nil when dialled
	wg   sync.WaitGroup    // the accept loop

	onPeer func(event string, generation uint64) // QEMUOptions.OnPeer

	mu     sync.Mutex
	conn   *net.UnixConn // current peer, nil if none
	gen    uint64        // incremented on every change of peer
	peerCh chan struct{} // closed when a peer arrives
	done   chan struct{} // closed by Close
	closed atomic.Bool
	once   sync.Once

	// Recv state: rbuf[rstart:rend] holds bytes read but not yet parsed,
	// all from the peer of generation rgen.
	rbuf         []byte
	rstart, rend int
	rgen         uint64
	rpending     error // an error to return on the next Recv

	// Send state.
	wbuf []byte

	st counters
}

var _ NIC = (*QEMUStream)(nil)
var _ StatsReporter = (*QEMUStream)(nil)

// ListenQEMUStream listens on the unix socket path (removing a stale
// socket file there first) for QEMU to connect to. The socket file is
// removed by Close.
func ListenQEMUStream(path string, opts ...QEMUOptions) (*QEMUStream, error) {
	mtu, err := qemuMTU(opts)
	if err != nil {
		return nil, fmt.Errorf("nic: listen qemu stream %q: %w", path, err)
	}
	removeStaleSocket(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("nic: listen qemu stream %q: %w", path, err)
	}
	s := newQEMUStream("qemu-stream:"+path, mtu)
	s.ln = ln
	if len(opts) > 0 {
		s.onPeer = opts[0].OnPeer
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// DialQEMUStream connects to a unix socket where QEMU (or a listening
// QEMUStream) listens.
func DialQEMUStream(path string, opts ...QEMUOptions) (*QEMUStream, error) {
	mtu, err := qemuMTU(opts)
	if err != nil {
		return nil, fmt.Errorf("nic: dial qemu stream %q: %w", path, err)
	}
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("nic: dial qemu stream %q: %w", path, err)
	}
	s := newQEMUStream("qemu-stream:"+path, mtu)
	s.conn, s.gen = c, 1
	return s, nil
}

func newQEMUStream(name string, mtu int) *QEMUStream {
	return &QEMUStream{
		name:   name,
		mtu:    mtu,
		peerCh: make(chan struct{}),
		done:   make(chan struct{}),
		rbuf:   make([]byte, max(256<<10, 2*(streamPrefix+mtu+HeaderLen))),
	}
}

// removeStaleSocket removes path if it is a unix socket nobody listens on,
// as QEMU does before binding.
func removeStaleSocket(path string) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close() // somebody listens there: leave it, Listen will say so
			return
		}
		os.Remove(path)
	}
}

func (s *QEMUStream) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if s.closed.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// EMFILE and the like: keep the listener, try again.
			continue
		}
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			c.Close()
			return
		}
		old := s.conn
		s.conn = c
		s.gen++
		gen := s.gen
		close(s.peerCh)
		s.peerCh = make(chan struct{})
		s.mu.Unlock()
		if old != nil {
			old.Close() // the new peer replaces the old one
		}
		if s.onPeer != nil {
			s.onPeer(map[bool]string{false: "connected", true: "replaced"}[old != nil], gen)
		}
	}
}

// Name returns "qemu-stream:" and the socket's path.
func (s *QEMUStream) Name() string { return s.name }

// MTU returns the MTU from QEMUOptions (DefaultMTU).
func (s *QEMUStream) MTU() int { return s.mtu }

// Stats returns the NIC's counters.
func (s *QEMUStream) Stats() Stats { return s.st.snapshot() }

// Close closes the peer's connection and the listener (removing its socket
// file), unblocking Recv and Send.
func (s *QEMUStream) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed.Store(true)
		close(s.done)
		c := s.conn
		s.conn = nil
		s.mu.Unlock()
		if c != nil {
			c.Close()
		}
		if s.ln != nil {
			s.ln.Close() // also removes the socket file
		}
	})
	s.wg.Wait()
	return nil
}

// peer returns the current connection and its generation, waiting for one
// if this is a listener without a peer.
func (s *QEMUStream) peer() (*net.UnixConn, uint64, error) {
	for {
		s.mu.Lock()
		c, gen, ch := s.conn, s.gen, s.peerCh
		s.mu.Unlock()
		if s.closed.Load() {
			return nil, 0, fmt.Errorf("nic: %s: %w", s.name, ErrClosed)
		}
		if c != nil || s.ln == nil {
			return c, gen, nil
		}
		select {
		case <-ch:
		case <-s.done:
		}
	}
}

// dropPeer disconnects the peer of generation gen, if it is still the
// current one.
func (s *QEMUStream) dropPeer(gen uint64) {
	s.mu.Lock()
	c := s.conn
	if gen != s.gen || c == nil {
		s.mu.Unlock()
		return
	}
	s.conn = nil
	if s.ln != nil {
		s.gen++
	}
	s.mu.Unlock()
	c.Close()
	if s.onPeer != nil {
		s.onPeer("disconnected", gen)
	}
}

// Recv implements NIC: it reads as much as the socket has (up to its
// buffer), splits it into frames and keeps an incomplete tail for the next
// call.
func (s *QEMUStream) Recv(bufs [][]byte, sizes []int) (int, error) {
	max := min(len(bufs), len(sizes))
	if max == 0 {
		return 0, nil
	}
	for {
		if err := s.rpending; err != nil {
			s.rpending = nil
			return 0, err
		}
		c, gen, err := s.peer()
		if err != nil {
			return 0, err
		}
		if c == nil { // dialled, peer gone
			return 0, fmt.Errorf("nic: %s: peer disconnected: %w", s.name, errPeerGone)
		}
		if gen != s.rgen {
			// A new peer: bytes of the old one are meaningless now.
			s.rstart, s.rend, s.rgen = 0, 0, gen
		}
		if n := s.parse(bufs[:max], sizes, gen); n > 0 {
			return n, nil
		}
		if s.rpending != nil {
			continue
		}
		// Need more bytes: move the tail to the front and read.
		if s.rstart > 0 {
			s.rend = copy(s.rbuf, s.rbuf[s.rstart:s.rend])
			s.rstart = 0
		}
		k, err := c.Read(s.rbuf[s.rend:])
		s.rend += k
		if err != nil {
			if s.closed.Load() {
				return 0, fmt.Errorf("nic: %s: %w", s.name, ErrClosed)
			}
			if n := s.parse(bufs[:max], sizes, gen); n > 0 {
				// Deliver what arrived before the error; the error
				// shows on the next read.
				return n, nil
			}
			if s.rend > s.rstart {
				s.st.rxFraming.Add(1) // the peer left mid-frame
			}
			s.rstart, s.rend = 0, 0
			s.dropPeer(gen)
			if s.ln == nil {
				return 0, fmt.Errorf("nic: %s: peer disconnected: %w", s.name, err)
			}
			// A listener waits for the next peer.
		}
	}
}

var errPeerGone = errors.New("no peer")

// parse takes complete frames from rbuf into bufs. On a bad length prefix
// it disconnects the peer and sets rpending.
func (s *QEMUStream) parse(bufs [][]byte, sizes []int, gen uint64) int {
	n := 0
	for n < len(bufs) && s.rend-s.rstart >= streamPrefix {
		l := int(binary.BigEndian.Uint32(s.rbuf[s.rstart:]))
		if l == 0 || l > s.mtu+HeaderLen {
			s.st.rxFraming.Add(1)
			s.rstart, s.rend = 0, 0
			s.dropPeer(gen)
			s.rpending = fmt.Errorf("nic: %s: length prefix %d not in [1, %d]: %w: peer disconnected (a stream cannot be resynchronised)",
				s.name, l, s.mtu+HeaderLen, ErrFraming)
			return n
		}
		if s.rend-s.rstart < streamPrefix+l {
			break // incomplete: wait for the rest
		}
		frame := s.rbuf[s.rstart+streamPrefix : s.rstart+streamPrefix+l]
		s.rstart += streamPrefix + l
		if l > len(bufs[n]) {
			s.st.rxTooBig.Add(1)
			continue
		}
		sizes[n] = copy(bufs[n], frame)
		s.st.rx(l)
		n++
	}
	return n
}

// Send implements NIC: it writes the frames, each with its length prefix,
// in one write, blocking while the peer does not read.
func (s *QEMUStream) Send(frames [][]byte) (int, error) {
	var tooBig error
	total := 0
	for i, f := range frames {
		if len(f) > s.mtu+HeaderLen {
			s.st.txTooBig.Add(1)
			tooBig = fmt.Errorf("nic: %s: send frame %d: %d bytes > MTU %d + %d: %w", s.name, i, len(f), s.mtu, HeaderLen, ErrTooBig)
			frames = frames[:i]
			break
		}
		total += streamPrefix + len(f)
	}
	if s.closed.Load() {
		return 0, fmt.Errorf("nic: %s: %w", s.name, ErrClosed)
	}
	s.mu.Lock()
	c, gen := s.conn, s.gen
	s.mu.Unlock()
	if c == nil {
		if s.ln == nil {
			return 0, fmt.Errorf("nic: %s: peer disconnected: %w", s.name, errPeerGone)
		}
		s.st.txNoPeer.Add(uint64(len(frames)))
		return len(frames), tooBig
	}
	if cap(s.wbuf) < total {
		s.wbuf = make([]byte, 0, total)
	}
	w := s.wbuf[:0]
	for _, f := range frames {
		w = binary.BigEndian.AppendUint32(w, uint32(len(f)))
		w = append(w, f...)
	}
	if _, err := c.Write(w); err != nil {
		if s.closed.Load() {
			return 0, fmt.Errorf("nic: %s: %w", s.name, ErrClosed)
		}
		if s.ln != nil {
			// The listener's peer is gone (or stopped reading for good):
			// send nothing more to it, but leave the connection to Recv,
			// which still takes in the frames the peer sent before it
			// went, then drops the peer at the end of its stream.
			// Dropping it here lost those frames, uncounted.
			c.CloseWrite()
		} else {
			s.dropPeer(gen)
		}
		if s.ln == nil {
			s.st.txErrors.Add(uint64(len(frames)))
			return 0, fmt.Errorf("nic: %s: send: peer disconnected: %w", s.name, err)
		}
		// The listener's peer left: its frames are lost with it.
		s.st.txErrors.Add(uint64(len(frames)))
		return len(frames), tooBig
	}
	for _, f := range frames {
		s.st.tx(len(f))
	}
	return len(frames), tooBig
}
