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

// TestReadFramesKeepsSplitFrame: a read interrupted by its deadline after
// part of a frame arrived keeps that part; the next read returns the whole
// frame, and the frame after it is whole too.
func TestReadFramesKeepsSplitFrame(t *testing.T) {
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
	defer g.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
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
