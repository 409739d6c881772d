package uplink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
)

// DefaultTCPQueue is how many packets a TCP downlink holds while the
// ground is away (or slow): about 64 KiB of full cfs packets.
const DefaultTCPQueue = 256

// TCPStats counts what a TCP downlink did.
type TCPStats struct {
	Sent       uint64 // packets written whole to a connection
	Queued     uint64 // packets waiting for the ground now
	QueueFull  uint64 // packets refused because the queue was full (the switch answers Link_failed)
	Reconnects uint64 // connections made after the first
}

// TCP sends Space Packets to the ground over TCP, back to back (how Yamcs'
// and COSMOS's TCP links read them). It implements apidswitch.Downlink.
//
// SendPacket never waits for the network: it copies the packet into a
// bounded queue and a goroutine writes the queue to the connection. While
// the ground is away the queue fills; when the ground is back (the
// goroutine dials again, or accepts, every time a connection ends) the
// queue is written in order. A packet is taken off the queue only once it
// was written whole; one cut by a broken connection is written again whole
// on the next. A packet that finds the queue full is refused (SendPacket's
// error: the switch counts it Link_failed and answers its sender).
//
// What TCP cannot tell: packets the kernel took before the ground went away
// but the ground never read. The goroutine reads the connection as well
// (the ground sends nothing on it), so that a ground that closed is noticed
// at once and nothing more is written to it.
type TCP struct {
	connect func(ctx context.Context) (net.Conn, error)
	addr    string

	mu     sync.Mutex
	queue  [][]byte // ring of packets, each a buffer of MaxLayoutPacketSize
	lens   []int
	head   int
	count  int
	wake   chan struct{} // 1-buffered: the queue has something
	up     chan struct{} // closed and replaced: see Connected
	isUp   bool
	cancel context.CancelFunc
	done   chan struct{}

	sent, queueFull, reconnects atomic.Uint64
}

// DialTCP opens a TCP downlink: "tcp://host:port" connects to the ground
// (and again, after a short wait, whenever the connection ends);
// "tcp-listen://host:port" listens and takes one ground connection at a
// time (the next is accepted when the current one ends). queue is the
// bound of packets held
// while the ground is away (0 means DefaultTCPQueue).
func DialTCP(url string, queue int) (*TCP, error) {
	if queue <= 0 {
		queue = DefaultTCPQueue
	}
	t := &TCP{wake: make(chan struct{}, 1), up: make(chan struct{}), done: make(chan struct{}),
		queue: make([][]byte, queue), lens: make([]int, queue)}
	for i := range t.queue {
		t.queue[i] = make([]byte, ccsds.MaxLayoutPacketSize)
	}
	switch {
	case strings.HasPrefix(url, "tcp://"):
		t.addr = strings.TrimPrefix(url, "tcp://")
		var d net.Dialer
		t.connect = func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", t.addr) }
	case strings.HasPrefix(url, "tcp-listen://"):
		ln, err := net.Listen("tcp", strings.TrimPrefix(url, "tcp-listen://"))
		if err != nil {
			return nil, fmt.Errorf("uplink: downlink %s: %w", url, err)
		}
		t.addr = ln.Addr().String()
		t.connect = func(ctx context.Context) (net.Conn, error) {
			stop := context.AfterFunc(ctx, func() { ln.Close() })
			defer stop()
			return ln.Accept()
		}
		defer func() {
			go func() { <-t.done; ln.Close() }()
		}()
	default:
		return nil, fmt.Errorf("uplink: %q: want tcp://host:port or tcp-listen://host:port", url)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	go t.run(ctx)
	return t, nil
}

// Addr is the address dialled, or listened on.
func (t *TCP) Addr() string { return t.addr }

// SendPacket queues a copy of pkt for the ground, or refuses it when the
// queue is full or pkt is larger than any layout's packet.
func (t *TCP) SendPacket(pkt []byte) error {
	if len(pkt) > ccsds.MaxLayoutPacketSize {
		return fmt.Errorf("uplink: tcp: %d-octet packet exceeds %d", len(pkt), ccsds.MaxLayoutPacketSize)
	}
	t.mu.Lock()
	if t.count == len(t.queue) {
		t.mu.Unlock()
		t.queueFull.Add(1)
		return fmt.Errorf("uplink: tcp downlink to %s: queue of %d packets full (ground away or slow)", t.addr, len(t.queue))
	}
	i := (t.head + t.count) % len(t.queue)
	t.lens[i] = copy(t.queue[i], pkt)
	t.count++
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
	return nil
}

// Connected returns whether a ground is connected now, and a channel
// closed at the next change.
func (t *TCP) Connected() (bool, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.isUp, t.up
}

func (t *TCP) setUp(v bool) {
	t.mu.Lock()
	t.isUp = v
	close(t.up)
	t.up = make(chan struct{})
	t.mu.Unlock()
}

// Stats returns the downlink's counters.
func (t *TCP) Stats() TCPStats {
	t.mu.Lock()
	q := t.count
	t.mu.Unlock()
	return TCPStats{Sent: t.sent.Load(), Queued: uint64(q), QueueFull: t.queueFull.Load(), Reconnects: t.reconnects.Load()}
}

// Close stops the goroutine and closes the connection; packets still
// queued stay counted in Stats().Queued.
func (t *TCP) Close() error {
	t.cancel()
	<-t.done
	return nil
}

// redialWait is how long the goroutine waits before dialling again after a
// failed dial or a lost connection.
const redialWait = 200 * time.Millisecond

// run connects, writes the queue, and connects again when the connection
// ends, until ctx is done.
func (t *TCP) run(ctx context.Context) {
	defer close(t.done)
	first := true
	for ctx.Err() == nil {
		c, err := t.connect(ctx)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(redialWait):
			}
			continue
		}
		if !first {
			t.reconnects.Add(1)
		}
		first = false
		t.setUp(true)
		t.serve(ctx, c)
		t.setUp(false)
	}
}

// serve writes queued packets to c until c fails, the ground closes it or
// ctx is done; it closes c.
func (t *TCP) serve(ctx context.Context, c net.Conn) {
	gone := make(chan struct{})
	go func() {
		// The ground sends nothing on the downlink: any read end (EOF,
		// reset) means it is gone; stray bytes are read and dropped.
		io.Copy(io.Discard, c)
		close(gone)
	}()
	defer func() { c.Close(); <-gone }()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	buf := make([]byte, ccsds.MaxLayoutPacketSize)
	for {
		t.mu.Lock()
		n := 0
		if t.count > 0 {
			n = copy(buf, t.queue[t.head][:t.lens[t.head]])
		}
		t.mu.Unlock()
		if n == 0 {
			select {
			case <-t.wake:
				continue
			case <-gone:
				return
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-gone:
			return // the ground left: keep the packet for the next one
		default:
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
		t.mu.Lock()
		t.head = (t.head + 1) % len(t.queue)
		t.count--
		t.mu.Unlock()
		t.sent.Add(1)
	}
}

// readPacket reads one Space Packet from a byte stream into buf (back to
// back, as the TCP links carry them) and returns it. A packet larger than
// buf is read and discarded (the stream stays in step) and reported with
// errTooLong; any other error ends the stream.
func readPacket(r io.Reader, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, buf[:ccsds.HeaderSize]); err != nil {
		return nil, err
	}
	n := ccsds.HeaderSize + int(binary.BigEndian.Uint16(buf[4:])) + 1
	if n > len(buf) {
		if _, err := io.CopyN(io.Discard, r, int64(n-ccsds.HeaderSize)); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("uplink: tcp: %d-octet packet, at most %d: %w", n, len(buf), errTooLong)
	}
	if _, err := io.ReadFull(r, buf[ccsds.HeaderSize:n]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf[:n], nil
}

var errTooLong = errors.New("packet too long")

// MaxTCPGrounds bounds the ground connections a TCP listener serves at
// once; one more is closed at once, counted (ListenerStats.ConnsRefused)
// and logged, so that a hostile ground cannot open goroutines without end.
const MaxTCPGrounds = 8

// serveTCP accepts ground connections on ln and takes the packets of each
// until ctx is done.
func (d *Listener) serveTCP(ctx context.Context) error {
	defer d.ln.Close()
	stop := context.AfterFunc(ctx, func() { d.ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, MaxTCPGrounds)
	for {
		c, err := d.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("uplink: accept on %s: %w", d.ln.Addr(), err)
		}
		select {
		case slots <- struct{}{}:
		default:
			k := d.connsRefused.Add(1)
			if s, ok := d.logLimit.Allow("ground", logConnRefused); ok {
				d.log.Warn("ground connection refused: too many", "from", c.RemoteAddr().String(), "max", MaxTCPGrounds, "count", k, "suppressed", s)
			}
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots }()
			defer wg.Done()
			defer c.Close()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			d.readStream(c)
		}()
	}
}

// readStream takes the packets of one ground connection until it ends. A
// stream cut inside a packet counts that packet refused.
func (d *Listener) readStream(c net.Conn) {
	from := addrPortOf(c.RemoteAddr())
	buf := make([]byte, ccsds.MaxLayoutPacketSize)
	var f frame.Frame
	for {
		pkt, err := readPacket(c, buf)
		switch {
		case err == nil:
			d.take(&f, pkt, from)
		case errors.Is(err, errTooLong) || errors.Is(err, io.ErrUnexpectedEOF):
			k := d.refused.Add(1)
			if s, ok := d.logLimit.Allow("ground", logRefused); ok {
				d.log.Warn("ground packet refused", "from", from, "count", k, "err", err, "suppressed", s)
			}
			if !errors.Is(err, errTooLong) {
				return
			}
		default:
			return
		}
	}
}

// SetRefused does nothing: over TCP the ground refuses nothing after it
// was sent (a packet that does not fit the queue is refused by SendPacket).
func (t *TCP) SetRefused(func(pkt []byte)) {}

// Summary is the counters as "name=value" pairs, for a log or a report.
func (t *TCP) Summary() string {
	s := t.Stats()
	return fmt.Sprintf("sent=%d queued=%d queue_full=%d reconnects=%d", s.Sent, s.Queued, s.QueueFull, s.Reconnects)
}
