// Package tcptest is the application the stack tests run on package
// tcp's bufferless engine (ip/stack's tests, internal/vmtest's): it
// sends a number of bytes of the checkstream stream (read by offset
// from one period of the stream, so the sender holds no copy per
// connection) and hashes what it receives through a ring buffer the
// engine writes into, granting the window back as it consumes.
package tcptest

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"time"

	"spacenet/internal/checkstream"
	"spacenet/ip/tcp"
)

// RingSink is the receiver's memory: a ring the engine writes into at
// offset modulo its size (never beyond the granted window, so never over
// bytes not yet consumed).
type RingSink struct{ Ring []byte }

// NewRingSink returns a sink with a ring of size bytes.
func NewRingSink(size int) *RingSink { return &RingSink{Ring: make([]byte, size)} }

// WriteAt writes p at stream offset off, wrapping around the ring.
func (r *RingSink) WriteAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		i := int((off + int64(n)) % int64(len(r.Ring)))
		n += copy(r.Ring[i:], p[n:])
	}
	return n, nil
}

// StreamApp is one connection's application: it pushes Size bytes of
// the stream once connected (unless the caller pushed already), hashes
// what arrives, and closes once all it sent is acknowledged. It runs on
// the engine's goroutine; the exported fields other than Done are for
// reading once Done is closed.
type StreamApp struct {
	Size          int64 // bytes to send
	Sink          RingSink
	Consumed      int64         // bytes received and hashed
	Done          chan struct{} // closed at Gone
	Err           error         // the connection's error at Gone
	Info          tcp.Info      // the connection's Info at Gone
	AllAckedAfter time.Duration // from the first event until all we sent was acknowledged
	FINAfter      time.Duration // from the first event until the peer's FIN arrived

	sum      hash.Hash
	started  time.Time
	closed   bool
	finished bool
}

// NewStreamApp returns an application sending size bytes and receiving
// through a ring of ring bytes (its window).
func NewStreamApp(size int64, ring int) *StreamApp {
	return &StreamApp{Size: size, Sink: RingSink{make([]byte, ring)}, sum: sha256.New(), Done: make(chan struct{})}
}

// App is the tcp.App to open a connection with.
func (a *StreamApp) App() tcp.App {
	return tcp.App{Source: checkstream.Source{}, Sink: &a.Sink, Grant: len(a.Sink.Ring), Handler: a}
}

// Event handles the engine's events.
func (a *StreamApp) Event(c *tcp.Conn, ev tcp.Event) {
	if a.started.IsZero() {
		a.started = time.Now()
	}
	switch ev {
	case tcp.Connected:
		if c.Pushed() == 0 && a.Size > 0 {
			c.Push(int(a.Size))
		}
		a.maybeClose(c)
	case tcp.Acked:
		a.maybeClose(c)
	case tcp.Readable:
		ring := a.Sink.Ring
		end, start := c.Readable(), a.Consumed
		for a.Consumed < end {
			i := int(a.Consumed % int64(len(ring)))
			n := min(int64(len(ring)-i), end-a.Consumed)
			a.sum.Write(ring[i : i+int(n)])
			a.Consumed += n
		}
		c.Grant(int(end - start))
	case tcp.PeerClosed:
		a.FINAfter = time.Since(a.started)
		a.maybeClose(c)
	case tcp.Gone:
		if !a.finished {
			a.finished = true
			a.Err, a.Info = c.Err(), c.Info()
			close(a.Done)
		}
	}
}

// maybeClose closes c once all Size bytes are pushed and acknowledged.
func (a *StreamApp) maybeClose(c *tcp.Conn) {
	if !a.closed && c.Pushed() == a.Size && c.Acked() == a.Size {
		a.AllAckedAfter = time.Since(a.started)
		a.closed = true
		c.Close()
	}
}

// Sum is the sha256 of what arrived, in hex (compare with
// checkstream.Sum).
func (a *StreamApp) Sum() string { return hex.EncodeToString(a.sum.Sum(nil)) }
