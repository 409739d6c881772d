package nic

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// framed returns frames with QEMU's stream framing, as QEMU writes them.
func framed(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// recvN receives exactly n frames from x (over as many calls as needed).
func recvN(t *testing.T, x NIC, n, bufSize int) [][]byte {
	t.Helper()
	bufs, sizes := makeBufs(n, bufSize)
	var got [][]byte
	for len(got) < n {
		k, err := x.Recv(bufs[:n-len(got)], sizes)
		if err != nil {
			t.Fatalf("Recv after %d of %d frames: %v", len(got), n, err)
		}
		for i := range k {
			got = append(got, bytes.Clone(bufs[i][:sizes[i]]))
		}
	}
	return got
}

func sameFrames(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d frames; want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d: got % x; want % x", i, got[i], want[i])
		}
	}
}

func listenStream(t *testing.T) (*QEMUStream, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	s, err := ListenQEMUStream(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	watchdog(t, s, 20*time.Second)
	return s, path
}

// dialRaw connects a plain unix socket standing in for QEMU.
func dialRaw(t *testing.T, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestQEMUStreamOurs connects our client to our listener and passes a
// batch each way.
func TestQEMUStreamOurs(t *testing.T) {
	l, path := listenStream(t)
	d, err := DialQEMUStream(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var frames [][]byte
	for i := range 10 {
		frames = append(frames, frameOf(60+i*100, byte(i)))
	}
	if n, err := d.Send(frames); n != 10 || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
	sameFrames(t, recvN(t, l, 10, 1514), frames)
	// Now the listener has its peer: the other way.
	if n, err := l.Send(frames[:3]); n != 3 || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
	sameFrames(t, recvN(t, d, 3, 1514), frames[:3])
	var bytesSent uint64
	for _, f := range frames {
		bytesSent += uint64(len(f))
	}
	if s := d.Stats(); s.TxFrames != 10 || s.TxBytes != bytesSent || s.RxFrames != 3 {
		t.Errorf("dialler stats %+v", s)
	}
	if s := l.Stats(); s.RxFrames != 10 || s.RxBytes != bytesSent || s.TxFrames != 3 || s.RxFraming != 0 {
		t.Errorf("listener stats %+v", s)
	}
	if !strings.HasPrefix(l.Name(), "qemu-stream:") || l.MTU() != DefaultMTU {
		t.Errorf("Name %q MTU %d", l.Name(), l.MTU())
	}
}

// TestQEMUStreamRawBytes plays QEMU by hand: framed bytes written one byte
// at a time must come out as frames, and what the listener sends must be
// exactly length-prefixed frames.
func TestQEMUStreamRawBytes(t *testing.T) {
	l, path := listenStream(t)
	c := dialRaw(t, path)
	frames := [][]byte{frameOf(60, 1), frameOf(1514, 2), frameOf(14, 3)}
	wire := framed(frames...)
	go func() {
		for i := range wire {
			if _, err := c.Write(wire[i : i+1]); err != nil {
				return
			}
		}
	}()
	sameFrames(t, recvN(t, l, 3, 1514), frames)

	if n, err := l.Send(frames); n != 3 || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
	got := make([]byte, len(wire))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wire) {
		t.Errorf("listener wrote\n% x\nwant\n% x", got, wire)
	}
	// A frame too big for the caller's buffer is dropped and counted.
	if _, err := c.Write(framed(frameOf(100, 4), frameOf(60, 5))); err != nil {
		t.Fatal(err)
	}
	sameFrames(t, recvN(t, l, 1, 80), [][]byte{frameOf(60, 5)})
	if s := l.Stats(); s.RxTooBig != 1 || s.RxFrames != 4 {
		t.Errorf("stats %+v", s)
	}
}

// TestQEMUStreamFraming sends bad length prefixes: each is counted, the
// peer is disconnected, the error says so, and the listener takes the
// next peer.
func TestQEMUStreamFraming(t *testing.T) {
	l, path := listenStream(t)
	good := frameOf(60, 7)
	for i, tc := range []struct {
		name   string
		prefix uint32
	}{
		{"zero", 0},
		{"above MTU", 1515},
		{"huge", 0xffffffff},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, path)
			wire := framed(good)
			wire = binary.BigEndian.AppendUint32(wire, tc.prefix)
			wire = append(wire, frameOf(60, 8)...)
			if _, err := c.Write(wire); err != nil {
				t.Fatal(err)
			}
			// The good frame before the bad prefix is delivered...
			sameFrames(t, recvN(t, l, 1, 1514), [][]byte{good})
			// ...then the framing error.
			_, err := l.Recv(makeBufs(4, 1514))
			if !errors.Is(err, ErrFraming) || !strings.Contains(err.Error(), "peer disconnected") {
				t.Fatalf("Recv = %v; want ErrFraming and a disconnected peer", err)
			}
			if s := l.Stats(); s.RxFraming != uint64(i+1) {
				t.Errorf("RxFraming %d; want %d", s.RxFraming, i+1)
			}
			// QEMU sees the connection closed.
			if _, err := io.ReadAll(c); err != nil {
				t.Errorf("peer read: %v; want EOF", err)
			}
		})
	}
}

// TestQEMUStreamReplace checks that a new peer replaces the old one.
func TestQEMUStreamReplace(t *testing.T) {
	l, path := listenStream(t)
	c1 := dialRaw(t, path)
	if _, err := c1.Write(framed(frameOf(60, 1))); err != nil {
		t.Fatal(err)
	}
	recvN(t, l, 1, 1514)
	c2 := dialRaw(t, path)
	// The listener closes c1 once it has accepted c2.
	if _, err := io.ReadAll(c1); err != nil {
		t.Fatalf("old peer: %v; want EOF", err)
	}
	if _, err := c2.Write(framed(frameOf(61, 2))); err != nil {
		t.Fatal(err)
	}
	sameFrames(t, recvN(t, l, 1, 1514), [][]byte{frameOf(61, 2)})
	if n, err := l.Send([][]byte{frameOf(62, 3)}); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	got := make([]byte, 66)
	if _, err := io.ReadFull(c2, got); err != nil || !bytes.Equal(got, framed(frameOf(62, 3))) {
		t.Errorf("new peer got % x, %v", got, err)
	}
}

func TestQEMUStreamNoPeer(t *testing.T) {
	l, _ := listenStream(t)
	if n, err := l.Send([][]byte{frameOf(60, 1), frameOf(60, 2)}); n != 2 || err != nil {
		t.Fatalf("Send without peer = %d, %v; want 2, nil (dropped, counted)", n, err)
	}
	n, err := l.Send([][]byte{frameOf(1515, 1)})
	if n != 0 || !errors.Is(err, ErrTooBig) {
		t.Errorf("Send too big = %d, %v", n, err)
	}
	if s := l.Stats(); s.TxNoPeer != 2 || s.TxFrames != 0 || s.TxTooBig != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestQEMUStreamCloseUnblocks(t *testing.T) {
	l, path := listenStream(t)
	d, err := DialQEMUStream(path)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() { _, err := l.Recv(makeBufs(1, 1514)); errs <- err }()
	go func() { _, err := d.Recv(makeBufs(1, 1514)); errs <- err }()
	// The dialler first: closing the listener first would show the
	// dialler its peer leaving (an error, but not ErrClosed).
	d.Close()
	l.Close()
	for range 2 {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Errorf("Recv after Close = %v; want ErrClosed", err)
		}
	}
	// The dialler whose listener went away reports the peer's absence.
	l2, path2 := listenStream(t)
	d2, err := DialQEMUStream(path2)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	l2.Close()
	if _, err := d2.Recv(makeBufs(1, 1514)); err == nil || !strings.Contains(err.Error(), "peer disconnected") {
		t.Errorf("Recv after the listener closed = %v", err)
	}
	if _, err := DialQEMUStream(filepath.Join(t.TempDir(), "nobody")); err == nil || !strings.Contains(err.Error(), "nic: dial qemu stream") {
		t.Errorf("Dial nowhere = %v", err)
	}
}

// TestQEMUStreamLastFramesBeforeClose: a peer that sends frames and closes
// while the listener is sending to it (and it does not read) has all its
// frames received. Before, the failed send closed the connection at once,
// and the frames still in it were lost uncounted: the last pong of a
// ping-pong through the LAN under a broadcast storm (cmd/spacenet
// TestAttackLANStorm: "ping 1099: i/o timeout").
func TestQEMUStreamLastFramesBeforeClose(t *testing.T) {
	l, path := listenStream(t)
	peer := dialRaw(t, path)
	hello := frameOf(60, 0)
	if _, err := peer.Write(framed(hello)); err != nil {
		t.Fatal(err)
	}
	sameFrames(t, recvN(t, l, 1, 1514), [][]byte{hello}) // the listener has the peer
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		batch := [][]byte{frameOf(1500, 1), frameOf(1500, 2), frameOf(1500, 3), frameOf(1500, 4)}
		for l.Stats().TxErrors == 0 {
			l.Send(batch) // blocks once the peer's buffer is full; fails once it closed
		}
	}()
	var want [][]byte
	for i := range 10 {
		want = append(want, frameOf(60, byte(i+1)))
	}
	if _, err := peer.Write(framed(want...)); err != nil {
		t.Fatal(err)
	}
	peer.Close()
	<-sent
	got := make(chan [][]byte, 1)
	go func() {
		bufs, sizes := makeBufs(len(want), 1514)
		var fs [][]byte
		for len(fs) < len(want) {
			k, err := l.Recv(bufs[:len(want)-len(fs)], sizes)
			if err != nil {
				break
			}
			for i := range k {
				fs = append(fs, bytes.Clone(bufs[i][:sizes[i]]))
			}
		}
		got <- fs
	}()
	select {
	case fs := <-got:
		sameFrames(t, fs, want)
	case <-time.After(5 * time.Second):
		l.Close() // ends the Recv above
		t.Fatalf("the frames the peer sent before closing were lost: %d of %d received", len(<-got), len(want))
	}
}
