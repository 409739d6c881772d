package checkstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net"
	"testing"
	"testing/iotest"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStream: ReadAt at any offset agrees with the stream written from
// the start, across the period's edge, and Sum is the sha256 of Write.
func TestStream(t *testing.T) {
	const size = 3*Period + 17
	var all bytes.Buffer
	if err := Write(&all, size); err != nil || all.Len() != size {
		t.Fatalf("Write: %v, %d bytes", err, all.Len())
	}
	for _, off := range []int64{0, 1, Period - 3, Period, 2*Period + 5} {
		p := make([]byte, 100)
		if n, err := (Source{}).ReadAt(p, off); n != len(p) || err != nil || !bytes.Equal(p, all.Bytes()[off:off+100]) {
			t.Errorf("ReadAt(%d): %d %v, bytes differ from the stream", off, n, err)
		}
	}
	if !bytes.Equal(all.Bytes()[:Period], all.Bytes()[Period:2*Period]) || bytes.Equal(all.Bytes()[:100], all.Bytes()[1:101]) {
		t.Error("the stream does not repeat every Period bytes, or is constant")
	}
	if Sum(size) != sha256.Sum256(all.Bytes()) {
		t.Error("Sum is not the sha256 of Write")
	}
}

// TestDuplex: both ends of a loopback TCP connection run Duplex (the
// dialer DuplexHalfway) with different sizes at once; each reads exactly
// what the other sent, and the dialer's halfway runs once.
func TestDuplex(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res := AcceptDuplex(context.Background(), l, 1<<20)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	calls := 0
	n, sum, err := DuplexHalfway(c.(*net.TCPConn), 3*Period+1, func() { calls++ })
	r := <-res
	if err != nil || n != 1<<20 || sum != Sum(1<<20) || calls != 1 {
		t.Errorf("dialer: %d bytes, %v, sum ok %v, halfway called %d times", n, err, sum == Sum(1<<20), calls)
	}
	if r.Err != nil || r.N != 3*Period+1 || r.Sum != Sum(3*Period+1) {
		t.Errorf("acceptor: %d bytes, %v, sum ok %v", r.N, r.Err, r.Sum == Sum(3*Period+1))
	}
}

// TestHash: Hash reads to EOF, sums what it read as Sum does, and calls
// halfway exactly once, once half the bytes have arrived.
func TestHash(t *testing.T) {
	const size = 300_000
	var r bytes.Buffer
	if err := Write(&r, size); err != nil {
		t.Fatal(err)
	}
	calls, at := 0, 0
	n, sum, err := Hash(iotest.HalfReader(&r), size, func() { calls++; at = size - r.Len() })
	if err != nil || n != size || sum != Sum(size) {
		t.Fatalf("got %d bytes, %x, %v; want %d, %x", n, sum, err, size, Sum(size))
	}
	if calls != 1 || at < size/2 || at > size/2+32<<10 {
		t.Fatalf("halfway called %d times, after %d bytes; want once, after %d and within a read", calls, at, size/2)
	}
	if _, _, err := Hash(iotest.ErrReader(io.ErrUnexpectedEOF), size, nil); err != io.ErrUnexpectedEOF {
		t.Fatalf("a failing reader: %v, want %v", err, io.ErrUnexpectedEOF)
	}
}
