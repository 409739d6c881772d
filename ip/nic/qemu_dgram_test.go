package nic

import (
	"bytes"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"
)

func listenDgram(t *testing.T, path, peer string) *QEMUDgram {
	t.Helper()
	d, err := ListenQEMUDgram(path, peer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	watchdog(t, d, 20*time.Second)
	return d
}

func TestQEMUDgramOurs(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.sock"), filepath.Join(dir, "b.sock")
	l := listenDgram(t, a, b)
	d, err := DialQEMUDgram(a, b)
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
	if n, err := l.Send(frames[:4]); n != 4 || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
	sameFrames(t, recvN(t, d, 4, 1514), frames[:4])
	if s := l.Stats(); s.RxFrames != 10 || s.TxFrames != 4 || s.TxNoPeer != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestQEMUDgramRaw plays QEMU with a plain unix datagram socket: each
// datagram is one frame, exactly.
func TestQEMUDgramRaw(t *testing.T) {
	dir := t.TempDir()
	ours, qemu := filepath.Join(dir, "sn.sock"), filepath.Join(dir, "vm.sock")
	l := listenDgram(t, ours, qemu)
	// Before QEMU binds its path, frames are dropped and counted.
	if n, err := l.Send([][]byte{frameOf(60, 1)}); n != 1 || err != nil {
		t.Fatalf("Send without peer = %d, %v", n, err)
	}
	raw, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: qemu, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	to := &net.UnixAddr{Name: ours, Net: "unixgram"}
	frames := [][]byte{frameOf(60, 2), frameOf(1514, 3), frameOf(100, 4), {}, frameOf(61, 5)}
	for _, f := range frames {
		if _, err := raw.WriteToUnix(f, to); err != nil {
			t.Fatal(err)
		}
	}
	// Buffers of 1514 then 80 bytes: frame 2 (100 bytes) is too big for
	// its buffer, the empty datagram is a framing error.
	got := recvN(t, l, 1, 1514)
	got = append(got, recvN(t, l, 1, 1514)...)
	got = append(got, recvN(t, l, 1, 80)...)
	sameFrames(t, got, [][]byte{frames[0], frames[1], frames[4]})
	if s := l.Stats(); s.TxNoPeer != 1 || s.RxFrames != 3 || s.RxTooBig != 1 || s.RxFraming != 1 {
		t.Errorf("stats %+v", s)
	}

	if n, err := l.Send(frames[:3]); n != 3 || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
	buf := make([]byte, 2000)
	for i, f := range frames[:3] {
		n, _, err := raw.ReadFromUnix(buf)
		if err != nil || !bytes.Equal(buf[:n], f) {
			t.Errorf("datagram %d: % x, %v; want % x", i, buf[:n], err, f)
		}
	}
	n, err := l.Send([][]byte{frameOf(1515, 0)})
	if n != 0 || !errors.Is(err, ErrTooBig) {
		t.Errorf("Send too big = %d, %v", n, err)
	}
}

// TestQEMUDgramLearn checks a listener without a peer path answering the
// latest sender, here an autobound dialler.
func TestQEMUDgramLearn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.sock")
	l := listenDgram(t, path, "")
	if n, err := l.Send([][]byte{frameOf(60, 0)}); n != 1 || err != nil || l.Stats().TxNoPeer != 1 {
		t.Fatalf("Send before any peer = %d, %v, %+v", n, err, l.Stats())
	}
	d, err := DialQEMUDgram(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Send([][]byte{frameOf(60, 1)}); err != nil {
		t.Fatal(err)
	}
	recvN(t, l, 1, 1514)
	if _, err := l.Send([][]byte{frameOf(70, 2)}); err != nil {
		t.Fatal(err)
	}
	sameFrames(t, recvN(t, d, 1, 1514), [][]byte{frameOf(70, 2)})
	if _, err := DialQEMUDgram("", ""); err == nil {
		t.Error("DialQEMUDgram with no peer path succeeded")
	}
}

func TestQEMUDgramCloseUnblocks(t *testing.T) {
	dir := t.TempDir()
	l := listenDgram(t, filepath.Join(dir, "a"), filepath.Join(dir, "b"))
	errs := make(chan error)
	go func() { _, err := l.Recv(makeBufs(4, 1514)); errs <- err }()
	l.Close()
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Errorf("Recv after Close = %v; want ErrClosed", err)
	}
	if _, err := l.Send([][]byte{frameOf(60, 0)}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v; want ErrClosed", err)
	}
}

// TestQEMUDgramBackpressure sends more frames than a unix datagram queue
// holds (net.unix.max_dgram_qlen, 10 by default) to a peer that reads
// only later: Send must wait, not hang and not drop.
func TestQEMUDgramBackpressure(t *testing.T) {
	dir := t.TempDir()
	ours, qemu := filepath.Join(dir, "sn.sock"), filepath.Join(dir, "vm.sock")
	raw, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: qemu, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	l := listenDgram(t, ours, qemu)
	const total = 200
	var frames [][]byte
	for i := range total {
		frames = append(frames, frameOf(60, byte(i)))
	}
	sent := make(chan error, 1)
	go func() {
		n, err := l.Send(frames)
		if err == nil && n != total {
			err = errors.New("short send")
		}
		sent <- err
	}()
	buf := make([]byte, 100)
	for i := range total {
		n, _, err := raw.ReadFromUnix(buf)
		if err != nil || !bytes.Equal(buf[:n], frames[i]) {
			t.Fatalf("datagram %d: % x, %v", i, buf[:n], err)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.TxFrames != total || s.TxNoPeer+s.TxErrors != 0 {
		t.Errorf("stats %+v", s)
	}
}
