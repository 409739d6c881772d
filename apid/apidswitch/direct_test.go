package apidswitch

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/policy"
	"spacenet/apid/sysmsg"
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
		{"stalled", func(q *queue, c *conn) { q.stalled = true }, false},
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

// TestClaimKeepsSlot: while a reader writes directly, tenants' frames
// leave one slot free for the frame the write may cut short, also in a
// queue too small for the reserve of the switch's own frames; before, a
// queue of 4 took 4 frames while claimed, and the cut frame overwrote the
// last of them (n = 5 in 4 slots).
func TestClaimKeepsSlot(t *testing.T) {
	q := newQueue(4)
	c := &conn{}
	q.attach(c)
	q.claimDirect()
	other := &stats{}
	pushedN := 0
	for i := range 4 {
		var f frame.Frame
		frame.Encode(&f, frame.TM, 0x030, 0x020, []byte{byte(10 + i)})
		if q.push(&f, other) == pushed {
			pushedN++
		}
	}
	if pushedN != 3 {
		t.Fatalf("%d tenant frames queued while claimed, want 3", pushedN)
	}
	var cut frame.Frame
	frame.Encode(&cut, frame.TM, 0x010, 0x020, []byte{1})
	if taken, _ := q.releaseDirect(c, cut[:], 100, &stats{}, false); taken != 1 || q.n != 4 {
		t.Fatalf("released: took %d, %d queued; want 1 and 4", taken, q.n)
	}
	if (*frame.Frame)(q.buf[q.head*frame.Size : (q.head+1)*frame.Size]).Payload()[0] != 1 || q.off != 100 {
		t.Errorf("the head is not the cut frame, 100 bytes written")
	}
	for i := range 3 { // behind the cut frame, intact
		j := (q.head + 1 + i) % 4
		f := (*frame.Frame)(q.buf[j*frame.Size : (j+1)*frame.Size])
		if f.Payload()[0] != byte(10+i) {
			t.Errorf("frame %d behind the cut one: payload %d, want %d", i, f.Payload()[0], 10+i)
		}
	}
}

// TestReleaseDirectStall: a direct write that timed out stalls the queue
// (no direct write waits for it again, and once it is full frames for it
// are refused at once), and one that wrote a frame clears the stall.
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
	hs := startHeldStream(t)
	h, proc, out := hs.h, hs.proc, hs.out
	const n = heldStreamFrames
	if c, p := hs.held, h.counters("processor"); p.QueueLen != 0 || c.Queued != 0 {
		t.Fatalf("held %d, delivered %d: processor's queue holds %d (camera's frames queued %d), want 0", c.Held, c.Delivered, p.QueueLen, c.Queued)
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
	if err := <-hs.wrote; err != nil {
		t.Fatal(err)
	}
	if back := barrier(t, proc, 0x020); len(back) != 0 {
		t.Errorf("processor got %d more frames", len(back))
	}
	c := h.counters("camera")
	if c.Received != n+1 || c.Delivered != n+1 || c.DroppedTotal() != 0 || c.Held != 0 {
		t.Errorf("camera received %d delivered %d held %d dropped %v, want %d delivered", c.Received, c.Delivered, c.Held, c.Dropped, n)
	}
}

// TestDirectWriteReplaced: a receiver that reconnects while a sender's
// direct write waits on its old connection gets the rest of the stream on
// the new one, whole frames in order (a frame cut short on the old one is
// sent again from its first byte), and nothing is refused.
func TestDirectWriteReplaced(t *testing.T) {
	hs := startHeldStream(t) // processor's first connection never reads
	h, cam, out := hs.h, hs.cam, hs.out
	const n = heldStreamFrames
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
	if err := <-hs.wrote; err != nil {
		t.Fatal(err)
	}
	if back := barrier(t, cam, 0x010); len(back) != 0 {
		t.Errorf("camera got %d answers, first %x", len(back), back[0][:24])
	}
	if c := h.counters("camera"); c.Received != n+2 || c.Delivered != n+1 || c.DroppedTotal() != 0 || c.Queued != 0 || c.Held != 0 {
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

// TestDirectWriteDrop: a receiver with when_full = "drop" that does not
// read never holds its senders, even while its queue is empty and a
// direct write finds its socket full: what neither the socket nor the
// queue takes is refused at once. Before, the direct write waited a hold
// time (here a minute, longer than the test's timeout) for the socket.
func TestDirectWriteDrop(t *testing.T) {
	h := startSwitch(t, Config{QueueLen: 16,
		Policy: flowPolicy(map[string]policy.Flow{"processor": {WhenFull: policy.Drop, Hold: time.Minute}})})
	cam := h.dial("camera")
	h.dial("processor") // connected, and never reads
	const n = 4000
	camErrs := watchErrors(cam)
	select {
	case err := <-writeAll(cam, seqFrames(n, 0x010, 0x020, 0), 256):
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testTimeout):
		t.Fatal("the camera was held by a receiver whose policy says drop")
	}
	cam.CloseWrite() // the switch answers what it read, then closes
	errs := <-camErrs
	h.waitEvent("camera", sysmsg.Disconnected)
	c := h.counters("camera")
	if c.Dropped[frame.HostBusy] == 0 || uint64(len(errs)) != c.Dropped[frame.HostBusy] || c.Delivered+c.Queued+c.Dropped[frame.HostBusy] != n {
		t.Errorf("camera delivered %d queued %d Host_busy %d, ERRORs read %d: want every frame accounted for and each refusal answered",
			c.Delivered, c.Queued, c.Dropped[frame.HostBusy], len(errs))
	}
}

// TestDeadReceiverOneHold: a receiver that stops reading costs a sender
// one hold time in all, not one per frame, also when the sender's frames
// for it come one at a time between frames for others (each its own run).
// Before, every such frame found the queue empty, wrote directly, and
// waited a whole hold for the full socket: 433 refusals took 9.3 s.
func TestDeadReceiverOneHold(t *testing.T) {
	const hold = 50 * time.Millisecond
	h := startSwitch(t, Config{QueueLen: 16,
		Policy: flowPolicy(map[string]policy.Flow{"processor": {Hold: hold}})})
	cam := h.dial("camera")
	h.dial("processor") // connected, and never reads
	spaceos := h.dial("spaceos")
	const n = 4000 // alternating: 2000 for processor, 2000 for spaceos
	out := make([]frame.Frame, n)
	for i := range out {
		dst := frame.APID(0x020)
		if i%2 == 1 {
			dst = 0x100
		}
		frame.Encode(&out[i], frame.TM, 0x010, dst, []byte{byte(i)})
	}
	got := collect(t, spaceos, n/2)
	camErrs := watchErrors(cam)
	start := time.Now()
	if err := <-writeAll(cam, out, 64); err != nil {
		t.Fatal(err)
	}
	if frames := <-got; len(frames) != n/2 {
		t.Fatalf("spaceos got %d of %d frames", len(frames), n/2)
	}
	d := time.Since(start)
	cam.CloseWrite() // the switch answers what it read, then closes
	errs := <-camErrs
	h.waitEvent("camera", sysmsg.Disconnected)
	c := h.counters("camera")
	if c.Dropped[frame.HostBusy] == 0 || uint64(len(errs)) != c.Dropped[frame.HostBusy] || c.Delivered+c.Queued+c.Dropped[frame.HostBusy] != n {
		t.Errorf("camera delivered %d queued %d Host_busy %d, ERRORs read %d", c.Delivered, c.Queued, c.Dropped[frame.HostBusy], len(errs))
	}
	// One hold, and the rest at once; 100 holds leave room for a loaded
	// machine (one hold per refused frame would be over a minute).
	if d > 100*hold {
		t.Errorf("%d refusals took %v, want about one hold time (%v)", c.Dropped[frame.HostBusy], d, hold)
	}
}

// TestFlushBehindDirectWrite: a guest that sends a partial frame and
// closes its sending side while another tenant's direct write to it waits
// still gets the ERROR for its partial frame, queued behind the direct
// write. Before, its writer, finishing, took the claimed queue for an
// empty one and ended, and the connection closed with the ERROR unsent.
func TestFlushBehindDirectWrite(t *testing.T) {
	hs := startHeldStream(t)
	cam, proc, out := hs.cam, hs.proc, hs.out
	const n = heldStreamFrames
	part := mkFrame(t, frame.TM, 0x020, 0x010, "cut")
	if _, err := proc.Write(part[:100]); err != nil {
		t.Fatal(err)
	}
	if err := proc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var partial frame.Frame
	copy(partial[:], part[:100])
	want := errorFrame(frame.Malformed, &partial)
	proc.SetReadDeadline(time.Now().Add(testTimeout))
	next := 0 // the camera's frames arrive in order, the ERROR among them
	found := false
	buf := make([]frame.Frame, 256)
	for {
		k, err := proc.ReadFrames(buf)
		for i := range buf[:k] {
			switch {
			case buf[i] == want:
				found = true
			case next < n && buf[i] == out[next]:
				next++
			default:
				t.Fatalf("processor got %x after %d of the camera's frames", buf[i][:16], next)
			}
		}
		if err != nil {
			break
		}
	}
	if !found {
		t.Errorf("no Malformed ERROR for the partial frame (after %d of the camera's frames)", next)
	}
	cam.Close() // its frames left wait for processor's next connection
	<-hs.wrote
}

// TestCloseDuringDirectWrite: a guest that shuts its sending side while a
// direct write to it runs, and reads everything, gets its connection
// closed once the write is done, even with nothing queued behind it.
// Before, its writer, finishing, waited for the claim to end and was never
// woken: the connection stayed open, and no Disconnected event came.
func TestCloseDuringDirectWrite(t *testing.T) {
	hs := startHeldStream(t)
	h, cam, proc, out := hs.h, hs.cam, hs.proc, hs.out
	const n = heldStreamFrames
	if err := proc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	frames := <-collect(t, proc, n)
	for i := range frames {
		if frames[i] != out[i] {
			t.Fatalf("frame %d: sequence %d", i, seqOf(&frames[i]))
		}
	}
	h.waitEvent("processor", sysmsg.Disconnected)
	// The writer ends once nothing is queued nor written directly, which
	// may be between two of the camera's runs: the rest waits in the
	// queue for the next connection.
	t.Logf("processor read %d of %d frames before its connection closed", len(frames), n)
	cam.Close()
	<-hs.wrote
}

// TestClaimedGrantNoSpin: a sender waiting for room in a queue under 8
// frames while another writes directly is not woken while the queue has
// only the cut frame's slot left: before, grant took that slot for room,
// and the waiter woke, found none and waited again, spinning.
func TestClaimedGrantNoSpin(t *testing.T) {
	q := newQueue(4)
	c := &conn{}
	q.attach(c)
	q.claimDirect()
	other := &stats{}
	for i := range 3 {
		var f frame.Frame
		frame.Encode(&f, frame.TM, 0x030, 0x020, []byte{byte(i)})
		if q.push(&f, other) != pushed {
			t.Fatalf("push %d refused", i)
		}
	}
	w := newWaiter()
	q.mu.Lock()
	q.contenders = append(q.contenders, contender{st: other, queued: 3, w: w})
	w.waiting = true
	q.grant()
	woken := !w.waiting
	q.mu.Unlock()
	if woken {
		t.Fatal("a contender was woken with no room for its frame")
	}
}

// heldStreamFrames is how many frames a heldStream sends.
const heldStreamFrames = 4000

// heldStream is camera streaming heldStreamFrames frames, 256 per write, to
// processor (hold: a minute), which has not read them: the stream is held
// on processor's full socket.
type heldStream struct {
	h         *harness
	cam, proc *guest.Conn
	out       []frame.Frame
	wrote     <-chan error // writeAll's
	held      Counters     // camera's, once held
}

func startHeldStream(t *testing.T) *heldStream {
	t.Helper()
	h := startSwitch(t, Config{Policy: flowPolicy(map[string]policy.Flow{"processor": {Hold: time.Minute}})})
	hs := &heldStream{h: h, cam: h.dial("camera"), proc: h.dial("processor"), out: seqFrames(heldStreamFrames, 0x010, 0x020, 0)}
	h.writerStarted(hs.cam, hs.proc)
	hs.wrote = writeAll(hs.cam, hs.out, 256)
	hs.held = h.streamHeld()
	return hs
}

// writerStarted carries one frame from camera (cam) to processor (proc)
// and waits until processor's queue is empty again (its writer may take
// the frame off only after the guest read it): frames for processor may
// then be written directly (before its writer starts they are queued).
func (h *harness) writerStarted(cam, proc *guest.Conn) {
	t := h.t
	t.Helper()
	f := mkFrame(t, frame.TM, 0x010, 0x020, "warm-up")
	if err := cam.WriteFrame(&f); err != nil {
		t.Fatal(err)
	}
	if got := readFrame(t, proc); got != f {
		t.Fatalf("processor got %x, want the warm-up frame", got[:16])
	}
	h.await("the warm-up frame to leave processor's queue", func() bool { return h.counters("processor").QueueLen == 0 })
}

// streamHeld waits until camera's stream to processor is held on
// processor's full socket: frames held, and at least 100 delivered. It
// returns camera's counters then.
func (h *harness) streamHeld() Counters {
	var c Counters
	h.await("camera's stream to be held", func() bool {
		c = h.counters("camera")
		return c.Held > 0 && c.Delivered >= 100
	})
	return c
}

// await polls cond every millisecond until it holds, failing the test
// after testTimeout: a bounded wait for a state of the switch.
func (h *harness) await(what string, cond func() bool) {
	h.t.Helper()
	start := time.Now()
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	for !cond() {
		if time.Since(start) > testTimeout {
			h.t.Fatalf("waited %v for %s", testTimeout, what)
		}
		<-poll.C
	}
}

// TestProgressStuck: a hold ends after holdChecks looks in a row that saw
// neither the mark nor the unread memory move; any move starts the count
// again.
func TestProgressStuck(t *testing.T) {
	p := progress{mark: 5, unread: 100}
	looks := []struct {
		mark   uint64
		unread int
		stuck  bool
	}{
		{5, 100, false}, {5, 100, false}, {6, 100, false}, // written: again
		{6, 100, false}, {6, 80, false}, // read by the guest: again
		{6, 80, false}, {6, 80, false}, {6, 80, false}, {6, 80, true},
	}
	for i, l := range looks {
		if got := p.stuck(l.mark, l.unread); got != l.stuck {
			t.Fatalf("look %d (%d, %d): stuck %v, want %v", i, l.mark, l.unread, got, l.stuck)
		}
	}
}
