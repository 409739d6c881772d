package apidswitch

import (
	"runtime"
	"testing"
	"time"

	"spacenet/apid/frame"
)

// TestQueuePartialWrites drives the ring through writes that end inside a
// frame, a wrap-around, the bound with its reserve for the switch's own
// frames, and a new connection restarting a frame cut short.
func TestQueuePartialWrites(t *testing.T) {
	q := newQueue(8)
	st := &stats{}
	from := make([]*stats, 8)
	mk := func(i int) *frame.Frame {
		var f frame.Frame
		frame.Encode(&f, frame.TM, 0x010, 0x020, []byte{byte(i)})
		return &f
	}
	// 7 tenant frames fit (8 minus a reserve of 1); the 8th is refused,
	// but a switch frame still fits.
	for i := range 7 {
		if r := q.push(mk(i), st); r != pushed {
			t.Fatalf("push %d: %v", i, r)
		}
	}
	if r := q.push(mk(7), st); r != pushFull {
		t.Fatalf("push past the bound: %v", r)
	}
	if r := q.push(mk(99), nil); r != pushed {
		t.Fatalf("switch frame refused: %v", r)
	}
	if r := q.push(mk(100), nil); r != pushFull {
		t.Fatalf("push past the ring: %v", r)
	}
	// A write of 1.5 frames removes one frame and leaves the head half written.
	b := q.peek(8)
	if len(b) != 8*frame.Size {
		t.Fatalf("peek %d bytes", len(b))
	}
	if k := q.commit(frame.Size+frame.Size/2, from); k != 1 || from[0] != st {
		t.Fatalf("commit: %d frames", k)
	}
	// The run starts in the middle of frame 1.
	if b = q.peek(8); len(b) != 6*frame.Size+frame.Size/2 {
		t.Fatalf("peek after partial: %d bytes", len(b))
	}
	if (*frame.Frame)(q.buf[frame.Size : 2*frame.Size]).Payload()[0] != 1 {
		t.Fatal("head is not frame 1")
	}
	// A new connection restarts frame 1 from its first byte.
	q.attach(nil)
	if b = q.peek(8); len(b) != 7*frame.Size {
		t.Fatalf("peek after attach: %d bytes", len(b))
	}
	// Wrap: remove 3, push 3 more, the run stops at the end of the ring.
	if k := q.commit(3*frame.Size, from); k != 3 {
		t.Fatalf("commit %d", k)
	}
	for i := range 3 {
		if r := q.push(mk(10+i), st); r != pushed {
			t.Fatalf("push after wrap %d: %v", i, r)
		}
	}
	if b = q.peek(8); len(b) != 4*frame.Size {
		t.Fatalf("peek before the wrap: %d bytes", len(b))
	}
	q.commit(len(b), from)
	if b = q.peek(8); len(b) != 3*frame.Size || (*frame.Frame)(b[:frame.Size]).Payload()[0] != 10 {
		t.Fatalf("peek after the wrap: %d bytes", len(b))
	}
	q.commit(len(b), from)
	if q.peek(8) != nil || !q.waiting {
		t.Fatal("empty queue not waiting")
	}
}

// TestNoticeWaitOfSuccessorKept: a replaced connection's reader, whether it
// stops waiting for notice room or comes to wait after its successor
// (still draining), leaves the new connection's reader registered. Before,
// it took the one waiting place and then cleared it, and the new reader
// waited for room nobody told it of: its guest was never read again
// (TestChurnWithUnreadNotices saw a reader that "never waited", under load).
func TestNoticeWaitOfSuccessorKept(t *testing.T) {
	q := newQueue(4)
	var f frame.Frame
	frame.Encode(&f, frame.TM, 0x010, 0x020, nil)
	for q.push(&f, nil) == pushed {
	}
	registered := func(w *waiter) bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.noticeWait == w
	}
	wait := func(w *waiter, stop chan struct{}) chan bool {
		done := make(chan bool, 1)
		go func() { done <- q.waitNoticeRoom(w, stop, nil) }()
		// A bounded wait for the queue's state, not a sleep.
		deadline := time.Now().Add(testTimeout)
		for !registered(w) {
			if time.Now().After(deadline) {
				t.Fatal("the waiter never registered")
			}
			runtime.Gosched()
		}
		return done
	}
	oldStop, newStop := make(chan struct{}), make(chan struct{})
	defer close(newStop)
	old, successor := newWaiter(), newWaiter()
	oldDone := wait(old, oldStop)
	newDone := wait(successor, newStop)
	close(oldStop) // the replaced connection's reader stops
	if <-oldDone {
		t.Fatal("the stopped wait reported room")
	}
	if !registered(successor) {
		t.Fatal("the stopped wait cleared the new reader's registration")
	}
	// A replaced reader that comes to wait after its successor (it was
	// still draining) returns at once and leaves the successor in place.
	if q.waitNoticeRoom(newWaiter(), oldStop, nil) {
		t.Fatal("a stopped reader's wait reported room")
	}
	if !registered(successor) {
		t.Fatal("a stopped reader's wait took the new reader's place")
	}
	if b := q.peek(1); len(b) != frame.Size {
		t.Fatalf("peek: %d bytes", len(b))
	}
	q.commit(frame.Size, make([]*stats, 1)) // the guest read one frame: room
	select {
	case ok := <-newDone:
		if !ok {
			t.Fatal("the new reader's wait failed")
		}
	case <-time.After(testTimeout):
		t.Fatal("the new reader was never told of the room")
	}
}
