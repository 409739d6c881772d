package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"time"

	"spacenet/internal/checkstream"
	"spacenet/ip/tcp"
)

// The test application: it sends size bytes of a fixed pseudo-random
// stream (read by offset from one period of the stream, so the sender
// holds no copy per connection) and hashes what it receives through a
// ring buffer, granting the window back as it consumes.

// streamSource is the test stream as an io.ReaderAt.
type streamSource = checkstream.Source

// streamSum returns the sha256 of the first size bytes of the stream.
func streamSum(size int64) string {
	s := checkstream.Sum(size)
	return hex.EncodeToString(s[:])
}

// ringSink is the receiver's memory: a ring the engine writes into at
// offset modulo its size (never beyond the granted window, so never over
// bytes not yet consumed).
type ringSink struct{ ring []byte }

func (r *ringSink) WriteAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		i := int((off + int64(n)) % int64(len(r.ring)))
		n += copy(r.ring[i:], p[n:])
	}
	return n, nil
}

// streamApp is one connection's application.
type streamApp struct {
	size     int64 // bytes to send
	sink     ringSink
	consumed int64
	sum      hash.Hash
	conn     *tcp.Conn
	done     chan struct{} // closed at Gone
	closed   bool
	peerDone bool
	finished bool
	err      error
	info     tcp.Info
	started  time.Time
	sent     time.Duration // from the first event until all we sent was acked
	received time.Duration // until the peer's FIN
}

func newStreamApp(size int64, ring int) *streamApp {
	return &streamApp{size: size, sink: ringSink{make([]byte, ring)}, sum: sha256.New(), done: make(chan struct{})}
}

func (a *streamApp) App() tcp.App {
	return tcp.App{Source: streamSource{}, Sink: &a.sink, Grant: len(a.sink.ring), Handler: a}
}

func (a *streamApp) Event(c *tcp.Conn, ev tcp.Event) {
	a.conn = c
	if a.started.IsZero() {
		a.started = time.Now()
	}
	switch ev {
	case tcp.Connected:
		if c.Pushed() == 0 && a.size > 0 {
			c.Push(int(a.size))
		}
		a.maybeClose(c)
	case tcp.Acked:
		a.maybeClose(c)
	case tcp.Readable:
		end, start := c.Readable(), a.consumed
		for a.consumed < end {
			i := int(a.consumed % int64(len(a.sink.ring)))
			n := min(int64(len(a.sink.ring)-i), end-a.consumed)
			a.sum.Write(a.sink.ring[i : i+int(n)])
			a.consumed += n
		}
		c.Grant(int(end - start))
	case tcp.PeerClosed:
		a.peerDone = true
		a.received = time.Since(a.started)
		a.maybeClose(c)
	case tcp.Gone:
		a.err = c.Err()
		a.finish(c)
	}
}

func (a *streamApp) maybeClose(c *tcp.Conn) {
	if !a.closed && c.Pushed() == a.size && c.Acked() == a.size {
		a.sent = time.Since(a.started)
		a.closed = true
		c.Close()
	}
}

func (a *streamApp) finish(c *tcp.Conn) {
	if !a.finished {
		a.finished = true
		a.info = c.Info()
		close(a.done)
	}
}

func (a *streamApp) Sum() string { return hex.EncodeToString(a.sum.Sum(nil)) }
