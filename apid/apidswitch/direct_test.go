package apidswitch

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/policy"
)

// TestClaimDirect: a reader may write straight to the connection only when
// nothing is queued or being written, the queue is not congested, a writer
// runs on a connection not replaced, and no other reader writes directly.
func TestClaimDirect(t *testing.T) {
	var f frame.Frame
	frame.Encode(&f, frame.TM, 0x010, 0x020, nil)
	cases := []struct {
		name  string
		setup func(q *queue, c *conn)
		want  bool
	}{
		{"empty", func(q *queue, c *conn) {}, true},
		{"no writer", func(q *queue, c *conn) { q.detach(c) }, false},
		{"queued", func(q *queue, c *conn) { q.push(&f, nil) }, false},
		{"congested", func(q *queue, c *conn) { q.congested = true }, false},
		{"claimed", func(q *queue, c *conn) { q.claimDirect() }, false},
		{"replaced", func(q *queue, c *conn) { c.retired.Store(true) }, false},
		{"closed", func(q *queue, c *conn) { q.drain() }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueue(8)
			c := &conn{}
			q.attach(c)
			tc.setup(q, c)
			if got := q.claimDirect(); (got == c) != tc.want || (got != nil && got != c) {
				t.Errorf("claimDirect = %p, want it (%p) %v", got, c, tc.want)
			}
		})
	}
}

// TestReleaseDirect: while a reader writes directly, the queue's writer
// does not write, and others' frames queue behind the claim with one slot
// left free; a frame the direct write cut short goes to the head of the
// queue, to be finished on the same connection (or sent whole on a new
// one), ahead of what others queued meanwhile.
func TestReleaseDirect(t *testing.T) {
	mk := func(i byte) frame.Frame {
		var f frame.Frame
		frame.Encode(&f, frame.TM, 0x010, 0x020, []byte{i})
		return f
	}
	direct := frameBytes([]frame.Frame{mk(0), mk(1), mk(2), mk(3)})
	cases := []struct {
		name     string
		written  int                           // bytes of direct the write took
		meantime func(q *queue, c *conn)       // while claimed
		taken    int                           // frames releaseDirect took
		closed   bool                          // it reported the queue closed
		off      int                           // bytes of the head frame already written
		head     byte                          // the head frame's payload, if queued
		queued   int                           // frames queued after the release
		sender   func(me, other *stats) *stats // the head frame's sender
	}{
		{name: "whole frames", written: 2 * frame.Size, taken: 2},
		{name: "cut short", written: 2*frame.Size + 100, taken: 3, off: 100, head: 2, queued: 1},
		{name: "cut short, others queued meanwhile", written: 2*frame.Size + 100,
			meantime: func(q *queue, c *conn) {
				for i := range 7 { // the switch's own frames: 8 slots, one kept free
					f := mk(byte(10 + i))
					if r := q.push(&f, nil); r != pushed {
						t.Fatalf("push %d while claimed: %v", i, r)
					}
				}
				f := mk(17)
				if r := q.push(&f, nil); r != pushFull {
					t.Fatalf("push into the slot kept for the cut frame: %v", r)
				}
			},
			taken: 3, off: 100, head: 2, queued: 8},
		{name: "cut short, connection replaced", written: 2*frame.Size + 100,
			meantime: func(q *queue, c *conn) { q.detach(c); q.attach(&conn{}) },
			taken:    3, off: 0, head: 2, queued: 1},
		{name: "cut short, queue closed", written: 2*frame.Size + 100,
			meantime: func(q *queue, c *conn) { q.drain() },
			taken:    2, closed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueue(8)
			c := &conn{}
			q.attach(c)
			me := &stats{}
			if q.claimDirect() != c {
				t.Fatal("not claimed")
			}
			if tc.meantime != nil {
				tc.meantime(q, c)
			}
			if q.peek(8) != nil || !q.waiting {
				t.Fatal("the writer may write while a reader writes directly")
			}
			commits := q.commits
			taken, closed := q.releaseDirect(c, direct, tc.written, me, false)
			if taken != tc.taken || closed != tc.closed {
				t.Fatalf("releaseDirect took %d (closed %v), want %d (%v)", taken, closed, tc.taken, tc.closed)
			}
			if q.claim != nil || q.commits != commits+1 {
				t.Errorf("claim %p, commits %d after %d: want released, and progress", q.claim, q.commits, commits)
			}
			if q.n != tc.queued {
				t.Fatalf("%d frames queued, want %d", q.n, tc.queued)
			}
			if tc.queued == 0 {
				return
			}
			if q.waiting {
				t.Error("the writer was not woken")
			}
			b := q.peek(8)
			head := (*frame.Frame)(q.buf[q.head*frame.Size : (q.head+1)*frame.Size])
			if q.off != tc.off || head.Payload()[0] != tc.head || q.from[q.head] != me {
				t.Errorf("head frame %d from %p, %d bytes written; want %d from the reader %p, %d written", head.Payload()[0], q.from[q.head], q.off, tc.head, me, tc.off)
			}
			if want := frame.Size - tc.off; len(b) < want || string(b[:want]) != string(direct[2*frame.Size+tc.off:3*frame.Size]) {
				t.Errorf("the writer's next bytes are not the rest of the cut frame")
			}
		})
	}
}

// TestReleaseDirectStall: a direct write that timed out stalls the queue
// (the frames after the held one are refused at once), and one that wrote
// a frame clears the stall.
func TestReleaseDirectStall(t *testing.T) {
	q := newQueue(8)
	c := &conn{}
	q.attach(c)
	b := make([]byte, 2*frame.Size)
	q.claimDirect()
	q.releaseDirect(c, b, 0, &stats{}, true)
	if !q.stalled {
		t.Fatal("not stalled after a direct write timed out")
	}
	q.claimDirect()
	q.releaseDirect(c, b, frame.Size, &stats{}, false)
	if q.stalled {
		t.Fatal("still stalled after a direct write wrote a frame")
	}
}

// TestStreamWrittenDirect: one sender streaming to a receiver that has
// fallen behind waits on the receiver's socket, as a plain relay does,
// instead of filling the receiver's queue and handing its frames to the
// receiver's writer: while the frames are held, the queue is empty. The
// copy and hand-over cost a quarter of a relay's throughput through
// separate processes at 256 frames per write (docs/PERFORMANCE.md); before
// the direct write waited, a held frame meant a full queue (896 frames
// here). The receiver's writer still writes its own answers afterwards:
// the direct write's deadlines are gone from the connection.
func TestStreamWrittenDirect(t *testing.T) {
	h := startSwitch(t, Config{Policy: flowPolicy(map[string]policy.Flow{"processor": {Hold: time.Minute}})})
	cam := h.dial("camera")
	proc := h.dial("processor") // reads only once the stream is held
	const n = 4000              // many socket buffers' worth
	out := seqFrames(n, 0x010, 0x020, 0)
	wrote := writeAll(cam, out, 256)
	start := time.Now()
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	for {
		c := h.counters("camera")
		if c.Held > 0 && c.Delivered >= 100 {
			// The socket took what it could and the reader waits on it.
			if p := h.counters("processor"); p.QueueLen != 0 || c.Queued != 0 {
				t.Fatalf("held %d, delivered %d: processor's queue holds %d (camera's frames queued %d), want 0", c.Held, c.Delivered, p.QueueLen, c.Queued)
			}
			break
		}
		if time.Since(start) > testTimeout {
			t.Fatalf("camera's stream never held: %+v", c)
		}
		<-poll.C
	}
	got := collect(t, proc, n)
	frames := <-got
	if len(frames) != n {
		t.Fatalf("processor got %d of %d frames", len(frames), n)
	}
	for i := range frames {
		if frames[i] != out[i] {
			t.Fatalf("frame %d: sequence %d", i, seqOf(&frames[i]))
		}
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if back := barrier(t, proc, 0x020); len(back) != 0 {
		t.Errorf("processor got %d more frames", len(back))
	}
	c := h.counters("camera")
	if c.Received != n || c.Delivered != n || c.DroppedTotal() != 0 || c.Held != 0 {
		t.Errorf("camera received %d delivered %d held %d dropped %v, want %d delivered", c.Received, c.Delivered, c.Held, c.Dropped, n)
	}
}

// TestDirectWriteReplaced: a receiver that reconnects while a sender's
// direct write waits on its old connection gets the rest of the stream on
// the new one, whole frames in order (a frame cut short on the old one is
// sent again from its first byte), and nothing is refused.
func TestDirectWriteReplaced(t *testing.T) {
	h := startSwitch(t, Config{Policy: flowPolicy(map[string]policy.Flow{"processor": {Hold: time.Minute}})})
	cam := h.dial("camera")
	h.dial("processor") // never reads
	const n = 4000
	out := seqFrames(n, 0x010, 0x020, 0)
	wrote := writeAll(cam, out, 256)
	start := time.Now()
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	for c := h.counters("camera"); c.Held == 0 || c.Delivered < 100; c = h.counters("camera") {
		if time.Since(start) > testTimeout {
			t.Fatalf("camera's stream never held: %+v", c)
		}
		<-poll.C
	}
	proc := h.dial("processor") // replaces the first
	frames := <-collect(t, proc, 1)
	if len(frames) != 1 {
		t.Fatal("nothing on the new connection")
	}
	first := int(seqOf(&frames[0]))
	if first == 0 || first >= n || frames[0] != out[first] {
		t.Fatalf("first frame on the new connection: %x, want a whole frame of the stream after the first", frames[0][:16])
	}
	rest := <-collect(t, proc, n-first-1)
	for i := range rest {
		if rest[i] != out[first+1+i] {
			t.Fatalf("frame %d on the new connection: sequence %d, want %d", i+1, seqOf(&rest[i]), first+1+i)
		}
	}
	if len(rest) != n-first-1 {
		t.Fatalf("new connection got %d frames after the first, want %d", len(rest), n-first-1)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if back := barrier(t, cam, 0x010); len(back) != 0 {
		t.Errorf("camera got %d answers, first %x", len(back), back[0][:24])
	}
	if c := h.counters("camera"); c.Received != n+1 || c.Delivered != n || c.DroppedTotal() != 0 || c.Queued != 0 || c.Held != 0 {
		t.Errorf("camera %+v: want every frame delivered", c)
	}
}

// TestDirectWaitAllocs: a direct write that waits for a real socket to
// take more (its send buffer is a sixteenth of a batch; a reader drains
// its other end) allocates nothing.
func TestDirectWaitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race")
	}
	fx := newRouteFixture(t)
	uc, peer := unixPair(t)
	if err := uc.SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	c := &conn{sw: fx.sw, t: fx.proc, uc: uc}
	var err error
	if c.raw, err = uc.SyscallConn(); err != nil {
		t.Fatal(err)
	}
	c.directFn, c.outqFn = c.writeDirectFd, c.readOutq
	fx.proc.q.attach(c)
	done := make(chan int64)
	go func() { // the guest: reads until the switch's side closes
		var total int64
		buf := make([]byte, 16*frame.Size)
		for {
			k, err := peer.Read(buf)
			total += int64(k)
			if err != nil {
				done <- total
				return
			}
		}
	}()
	b := batchOf(t, DefaultBatch, nil)
	allocs := testing.AllocsPerRun(50, func() { fx.r.process(b) })
	uc.Close()
	if got := <-done; got != 51*int64(len(b)) {
		t.Errorf("the guest read %d bytes, want %d", got, 51*len(b))
	}
	if allocs != 0 {
		t.Errorf("%v allocations per batch of %d frames written directly, want 0", allocs, DefaultBatch)
	}
	var cs Counters
	fx.cam.st.snapshot(&cs)
	if cs.Delivered != 51*DefaultBatch || cs.Queued != 0 || !cs.Balanced() {
		t.Errorf("camera %+v: want every frame delivered directly", cs)
	}
}

// unixPair returns the two ends of a connected Unix stream socket pair.
func unixPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*net.UnixConn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = nc.(*net.UnixConn)
		t.Cleanup(func() { nc.Close() })
	}
	return conns[0], conns[1]
}
