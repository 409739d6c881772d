// Package checkstream is the pseudo-random byte stream that TCP tests and
// benchmarks send to check a transfer end to end: the same bytes every
// run, readable at any offset (so a sender keeps no copy of it), with
// their sha256 to compare against. It is not a random source: the
// stream is fixed by a seed and repeats every Period bytes.
package checkstream

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
)

// Period is the length of the stream's period, a prime so that segment
// and write boundaries drift across it.
const Period = 65521

// table is one period of the stream.
var table = func() []byte {
	r := rand.New(rand.NewPCG(22, 9293))
	b := make([]byte, Period)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// Source is the stream as an io.ReaderAt; it never fails.
type Source struct{}

// ReadAt fills p with the stream's bytes from offset off.
func (Source) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], table[int((off+int64(n))%Period):])
	}
	return n, nil
}

// Write writes the first size bytes of the stream to w, 64 KiB at a
// time.
func Write(w io.Writer, size int64) error {
	buf := make([]byte, 64<<10)
	for off := int64(0); off < size; {
		n := min(int64(len(buf)), size-off)
		Source{}.ReadAt(buf[:n], off)
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// Sum is the sha256 of the first size bytes of the stream.
func Sum(size int64) [32]byte {
	h := sha256.New()
	Write(h, size)
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// HalfCloser is a connection that can end its sending direction.
type HalfCloser interface {
	io.ReadWriter
	CloseWrite() error
}

// Duplex writes the first size bytes of the stream to c, then
// half-closes it, while it hashes what it reads from c until EOF; it
// returns the bytes read and their sha256 (compare with Sum).
func Duplex(c HalfCloser, size int64) (int64, [32]byte, error) {
	return DuplexHalfway(c, size, nil)
}

// DuplexHalfway is Duplex calling halfway, if not nil, once at least half
// of size bytes have been read (see Hash): both ends sending size bytes,
// halfway through the transfer. A read error is returned before a write
// error.
func DuplexHalfway(c HalfCloser, size int64, halfway func()) (int64, [32]byte, error) {
	werr := make(chan error, 1)
	go func() {
		err := Write(c, size)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	n, sum, err := Hash(c, size, halfway)
	if e := <-werr; err == nil && e != nil {
		err = fmt.Errorf("write: %w", e)
	}
	return n, sum, err
}

// Hash reads r until EOF and returns the bytes read and their sha256
// (compare with Sum). Once at least half of size bytes have arrived it
// calls halfway, if not nil, once: a test's look at the connection in the
// middle of a transfer. An error other than EOF ends it early.
func Hash(r io.Reader, size int64, halfway func()) (int64, [32]byte, error) {
	h := sha256.New()
	buf := make([]byte, 1<<16)
	var n int64
	var err error
	for err == nil {
		var k int
		k, err = r.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		if halfway != nil && n >= size/2 {
			halfway()
			halfway = nil
		}
	}
	if err == io.EOF {
		err = nil
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return n, sum, err
}

// Result is what Duplex returned on one side.
type Result struct {
	N   int64    // bytes read
	Sum [32]byte // their sha256
	Err error
}

// AcceptDuplex accepts one connection on l in a goroutine and runs
// Duplex on it with size; the result arrives on the channel once the
// connection is closed. The connection is closed early when ctx is done.
// A connection that cannot half-close is an error.
func AcceptDuplex(ctx context.Context, l net.Listener, size int64) <-chan Result {
	res := make(chan Result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			res <- Result{Err: err}
			return
		}
		defer c.Close()
		defer context.AfterFunc(ctx, func() { c.Close() })()
		hc, ok := c.(HalfCloser)
		if !ok {
			res <- Result{Err: fmt.Errorf("checkstream: %T cannot half-close", c)}
			return
		}
		var r Result
		r.N, r.Sum, r.Err = Duplex(hc, size)
		res <- r
	}()
	return res
}
