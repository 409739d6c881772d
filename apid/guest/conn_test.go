package guest

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"spacenet/apid/frame"
)

// dialPair is a Conn dialled to a listener of the test's and the
// listener's side of it, both closed at the test's end.
func dialPair(t *testing.T) (*Conn, *net.UnixConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	g, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	return g, peer.(*net.UnixConn)
}

// TestReadFramesKeepsSplitFrame: a read interrupted by its deadline after
// part of a frame arrived keeps that part; the next read returns the whole
// frame, and the frame after it is whole too.
func TestReadFramesKeepsSplitFrame(t *testing.T) {
	g, peer := dialPair(t)
	var want, next frame.Frame
	if err := frame.Encode(&want, frame.TM, 0x010, 0x020, []byte("split across two reads")); err != nil {
		t.Fatal(err)
	}
	if err := frame.Encode(&next, frame.TM, 0x010, 0x020, []byte("the one after")); err != nil {
		t.Fatal(err)
	}
	buf := make([]frame.Frame, 4)
	if _, err := peer.Write(want[:100]); err != nil {
		t.Fatal(err)
	}
	g.SetReadDeadline(time.Now().Add(20 * time.Millisecond)) // interrupts the wait for the rest
	if k, err := g.ReadFrames(buf); k != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrames = %d, %v; want 0, deadline exceeded", k, err)
	}
	if g.npart != 100 {
		t.Fatalf("kept %d bytes, want 100", g.npart)
	}
	g.SetReadDeadline(time.Time{})
	if _, err := peer.Write(append(want[100:], next[:]...)); err != nil {
		t.Fatal(err)
	}
	var got []frame.Frame
	for len(got) < 2 {
		k, err := g.ReadFrames(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:k]...)
	}
	if len(got) != 2 || got[0] != want || got[1] != next {
		t.Fatalf("read %d frames, first %x; want the split frame whole, then the next", len(got), got[0][:16])
	}
}

// TestConcurrentWritesStayWhole: several goroutines writing batches of
// frames at once, each batch larger than the socket takes in one go: the
// reader gets every batch whole and contiguous, never interleaved with
// another's (what ipc/switched relies on to write without a lock).
func TestConcurrentWritesStayWhole(t *testing.T) {
	g, peer := dialPair(t)
	in := &Conn{c: peer} // the switch's side, read as a Conn

	const writers, batches, batch = 4, 50, 1024 // 256 KiB per write
	done := make(chan error, writers)
	for w := range writers {
		go func() {
			fs := make([]frame.Frame, batch)
			for b := range batches {
				for i := range fs {
					frame.Encode(&fs[i], frame.TM, frame.APID(0x010+w), 0x020, []byte{byte(b), byte(i >> 8), byte(i)})
				}
				if err := g.WriteFrames(fs); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	buf := make([]frame.Frame, 256)
	next := make([]int, writers) // the next frame index expected from each writer
	var current, left = -1, 0    // the writer whose batch is being read, frames of it left
	for total := 0; total < writers*batches*batch; {
		k, err := in.ReadFrames(buf)
		if err != nil {
			t.Fatal(err)
		}
		for i := range buf[:k] {
			f := &buf[i]
			w := int(f.APID()) - 0x010
			if w < 0 || w >= writers || f.PayloadLen() != 3 {
				t.Fatalf("frame %d: not a writer's frame: %x", total, f[:16])
			}
			if left == 0 {
				current, left = w, batch
			}
			p := f.Payload()
			seq := int(p[0])*batch + int(p[1])*256 + int(p[2])
			if w != current || seq != next[w] {
				t.Fatalf("frame %d: writer %d frame %d, want writer %d frame %d: batches interleaved", total, w, seq, current, next[current])
			}
			next[w]++
			left--
			total++
		}
	}
	for range writers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
