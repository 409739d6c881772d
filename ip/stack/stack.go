// Package stack is ethox's layered host stack in Go, on any nic.NIC: it
// receives frames, hands TCP segments to a bufferless TCP engine (package
// tcp), answers ARP, NDP, ICMP echo and UDP through the answering layer
// (package endpoint), and sends what the engine produces through a route
// table and a neighbour cache (ARP and NDP resolution with retries) of
// sizes fixed at setup.
//
// Every buffer is allocated by New: receive and send batches, the frames
// held while a neighbour is resolved, the connection table. Nothing
// allocates per frame. One goroutine (Run) owns the stack: the
// application's tcp.Handler runs on it, and other goroutines reach the
// stack only through Do, or through the net.Conn adapter (DialConn,
// ListenConn), which allocates the rings its users size.
//
// Package stack does not reassemble fragments, forward packets, or
// discover path MTUs; it has one IPv4 and one IPv6 address. Every frame it
// does not take is counted under a Reason (its own, the answering layer's
// or the TCP table's).
package stack

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"spacenet/ip/endpoint"
	"spacenet/ip/nic"
	"spacenet/ip/tcp"
	"spacenet/ip/wire"
)

// Route sends the packets for Prefix through the router Via. Destinations
// within the prefix of one of our addresses are on the link.
type Route struct {
	Prefix netip.Prefix
	Via    netip.Addr
}

// Config configures New.
type Config struct {
	MAC  wire.MAC
	IPv4 netip.Prefix // our address and its link's prefix; zero: no IPv4
	IPv6 netip.Prefix // likewise for IPv6
	// Routes, fixed for the stack's life; the longest prefix wins.
	Routes []Route
	// Neighbours is the size of the neighbour cache; 0 means 64. When it
	// is full, the entry resolved longest ago makes room.
	Neighbours int
	// Hold is the number of frames held per neighbour being resolved
	// (sent once it answers); 0 drops them (TCP sends again). When a
	// neighbour's frames are held already, the oldest makes room.
	Hold int
	// TCP configures the connection table; MSS defaults to the MTU less
	// 40 bytes.
	TCP tcp.Config
	// UDP answers datagrams (see endpoint.UDPHandler); nil refuses them.
	UDP endpoint.UDPHandler
	// Batch is the number of frames per Recv and Send; 0 means 64.
	Batch int
}

// Resolution timing.
const (
	ResolveRetry   = time.Second      // between ARP requests / NSs
	ResolveTries   = 3                // then the neighbour is unreachable
	ReachableTime  = 30 * time.Second // then an entry is re-resolved
	defaultBatch   = 64
	defaultNeighbs = 64
)

// Reason says why the stack dropped a frame or a packet.
type Reason int

// The reasons.
const (
	Malformed   Reason = iota // wire.Decode refused the frame (TCP's part: the answering layer counts the rest)
	BadChecksum               // IPv4 header or TCP checksum
	NotForUs                  // TCP to another address
	Fragment                  // a TCP fragment: not reassembled
	NoRoute                   // no route to the destination
	Unresolved                // the neighbour did not answer, or the hold was full
	SendFailed                // the NIC refused the frame
	NumReasons
)

var reasonNames = [NumReasons]string{"malformed", "bad_checksum", "not_for_us", "fragment", "no_route",
	"unresolved", "send_failed"}

func (r Reason) String() string {
	if r >= 0 && r < NumReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Stats are the stack's counters.
type Stats struct {
	RxFrames, TxFrames uint64
	TCPIn, TCPOut      uint64
	Answered           uint64 // frames the answering layer answered
	Resolutions        uint64 // ARP requests and NSs sent
	Dropped            [NumReasons]uint64
	TCP                tcp.Stats
	Answer             endpoint.Stats
}

// Stack is one host on a NIC.
type Stack struct {
	nic      nic.NIC
	mac      wire.MAC
	ip4      netip.Addr
	ip6      netip.Addr
	pfx4     netip.Prefix
	pfx6     netip.Prefix
	mtu      int
	routes   []Route
	tcp      *tcp.Table
	answer   *endpoint.Endpoint
	neigh    neighbours
	start    time.Time
	ipID     uint16
	nextPort int // the last ephemeral port offset Dial tried

	rx      [2]rxBatch
	pkt     wire.Packet
	seg     tcp.Segment
	tx      [][]byte // send buffers
	txLen   []int
	txN     int
	out     [][]byte // the batch handed to Send
	calls   chan func()
	stopped chan struct{} // closed when Run returns
	kicks   chan *Conn    // Conns with work from Read, Write, Close

	mu    sync.Mutex // guards snap
	snap  Stats
	stats Stats // owned by Run's goroutine
}

type rxBatch struct {
	bufs  [][]byte
	sizes []int
	n     int
	err   error
}

// New makes a stack on n, allocating every buffer it will use.
func New(n nic.NIC, c Config) (*Stack, error) {
	mtu := n.MTU()
	ans, err := endpoint.NewAnswerer(mtu, endpoint.Config{MAC: c.MAC, IPv4: c.IPv4, IPv6: c.IPv6, UDP: c.UDP})
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	if c.Batch < 0 || c.Neighbours < 0 || c.Hold < 0 {
		return nil, fmt.Errorf("stack: Batch %d, Neighbours %d, Hold %d: want >= 0", c.Batch, c.Neighbours, c.Hold)
	}
	for i, r := range c.Routes {
		if !r.Prefix.IsValid() || !r.Via.IsValid() || r.Prefix.Addr().Is4() != r.Via.Is4() {
			return nil, fmt.Errorf("stack: Routes[%d] %v via %v: need a prefix and a router of its family", i, r.Prefix, r.Via)
		}
	}
	if c.Batch == 0 {
		c.Batch = defaultBatch
	}
	if c.Neighbours == 0 {
		c.Neighbours = defaultNeighbs
	}
	if c.TCP.MSS == 0 {
		c.TCP.MSS = mtu - wire.IPv4MinSize - wire.TCPMinSize
	}
	if c.TCP.Conns == 0 {
		c.TCP.Conns = 64
	}
	t, err := tcp.NewTable(c.TCP)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	s := &Stack{nic: n, mac: c.MAC, pfx4: c.IPv4, pfx6: c.IPv6, mtu: mtu, routes: c.Routes, tcp: t, answer: ans,
		start: time.Now(), calls: make(chan func(), 16), kicks: make(chan *Conn, c.TCP.Conns), stopped: make(chan struct{})}
	if c.IPv4.IsValid() {
		s.ip4 = c.IPv4.Addr()
	}
	if c.IPv6.IsValid() {
		s.ip6 = c.IPv6.Addr()
	}
	s.nextPort = int(s.start.UnixNano() % (65536 - 49152))
	size := mtu + wire.EthernetSize + wire.MaxVLANTags*wire.VLANSize
	for i := range s.rx {
		s.rx[i] = rxBatch{bufs: frames(c.Batch, size), sizes: make([]int, c.Batch)}
	}
	s.tx = frames(c.Batch, mtu+wire.EthernetSize)
	s.txLen = make([]int, c.Batch)
	s.out = make([][]byte, 0, c.Batch)
	s.neigh.init(c.Neighbours, c.Hold, mtu+wire.EthernetSize)
	return s, nil
}

func frames(n, size int) [][]byte {
	mem := make([]byte, n*size)
	f := make([][]byte, n)
	for i := range f {
		f[i] = mem[i*size : (i+1)*size : (i+1)*size]
	}
	return f
}

// now returns the stack's clock in nanoseconds (never 0).
func (s *Stack) now() int64 { return int64(time.Since(s.start)) + 1 }

// Table returns the TCP table, to be used only on Run's goroutine (from a
// Handler or a function passed to Do).
func (s *Stack) Table() *tcp.Table { return s.tcp }

// Now returns the clock the stack gives the TCP table.
func (s *Stack) Now() int64 { return s.now() }

// Dial opens a connection to remote from our address of its family and
// the given local port; port 0 picks a free one in the ephemeral range
// (49152-65535, RFC 6335). Call it on Run's goroutine (through Do).
func (s *Stack) Dial(localPort uint16, remote netip.AddrPort, app tcp.App) (*tcp.Conn, error) {
	local := s.ip4
	if remote.Addr().Is6() {
		local = s.ip6
	}
	if !local.IsValid() {
		return nil, fmt.Errorf("stack: dial %v: no address of that family", remote)
	}
	if localPort != 0 {
		return s.tcp.Dial(netip.AddrPortFrom(local, localPort), remote, app, s.now())
	}
	const first, n = 49152, 65536 - 49152
	for range n {
		s.nextPort = (s.nextPort + 1) % n
		c, err := s.tcp.Dial(netip.AddrPortFrom(local, uint16(first+s.nextPort)), remote, app, s.now())
		if !errors.Is(err, tcp.ErrInUse) {
			return c, err
		}
	}
	return nil, fmt.Errorf("stack: dial %v: every ephemeral port in use", remote)
}

// ErrStopped is returned by Do once Run has returned.
var ErrStopped = errors.New("stack: not running")

// Do runs fn on Run's goroutine and waits for it. It allocates: it is for
// setup (Dial, Listen), not for every segment. Before Run starts, Do
// waits for it (or for ctx); after Run returned, it returns ErrStopped.
func (s *Stack) Do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case s.calls <- func() { fn(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stopped:
		return ErrStopped
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stopped:
		select {
		case <-done: // ran in Run's last iteration
			return nil
		default:
			return ErrStopped
		}
	}
}

// Stats returns the counters as of the end of Run's last iteration.
func (s *Stack) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap
}

func (s *Stack) publish() {
	s.stats.TCP = s.tcp.Stats()
	s.stats.Answer = s.answer.Stats()
	s.mu.Lock()
	s.snap = s.stats
	s.mu.Unlock()
}

// Run drives the stack until ctx is done (it then closes the NIC and
// returns nil) or the NIC fails. A goroutine receives frames into one of
// two batches while Run processes the other.
func (s *Stack) Run(ctx context.Context) error {
	full := make(chan *rxBatch, len(s.rx))
	free := make(chan *rxBatch, len(s.rx))
	for i := range s.rx {
		free <- &s.rx[i]
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for b := range free {
			b.n, b.err = s.nic.Recv(b.bufs, b.sizes)
			full <- b
			if b.err != nil {
				return
			}
		}
	}()
	stop := context.AfterFunc(ctx, func() { s.nic.Close() })
	defer func() {
		stop()
		s.nic.Close()
		close(free)
		wg.Wait()
		s.publish()
		close(s.stopped)
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case b := <-full:
			if b.err != nil {
				if ctx.Err() != nil {
					return nil // the NIC was closed because ctx is done
				}
				return fmt.Errorf("stack: %w", b.err)
			}
			now := s.now()
			for i := 0; i < b.n; i++ {
				s.input(b.bufs[i], b.sizes[i], now)
			}
			free <- b
		case fn := <-s.calls:
			fn()
		case c := <-s.kicks:
			c.sync()
		case <-timer.C:
		case <-ctx.Done():
			return nil
		}
		now := s.now()
		s.tcp.Tick(now)
		next := s.neighTick(now)
		s.flush(now)
		// Output arms timers: the deadline is read after it.
		if d := s.tcp.Deadline(); d != 0 && (next == 0 || d < next) {
			next = d
		}
		if err := s.send(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.publish()
		wait := time.Hour
		if next != 0 {
			wait = time.Duration(max(next-s.now(), 0))
		}
		timer.Reset(wait)
	}
}
