package lan

import (
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

// slowReceiver receives from m until it has want frames, sleeping pause
// (fake time, if not 0) before each Recv, and checks their order (byte
// 14 counts 0..255 again and again). It returns how many frames it got.
func slowReceiver(t *testing.T, m nic.NIC, want int, pause time.Duration) <-chan int {
	done := make(chan int, 1)
	go func() {
		bufs, sizes := make([][]byte, 64), make([]int, 64)
		for i := range bufs {
			bufs[i] = make([]byte, 1514)
		}
		got := 0
		for got < want {
			if pause > 0 {
				time.Sleep(pause)
			}
			n, err := m.Recv(bufs, sizes)
			if err != nil {
				break
			}
			for i := range n {
				if bufs[i][14] != byte(got) {
					t.Errorf("frame %d carries %d: order lost", got, bufs[i][14])
				}
				got++
			}
		}
		done <- got
	}()
	return done
}

// flatOut sends n frames from a to B in batches of 64, as fast as Send
// returns.
func flatOut(t *testing.T, a *MemNIC, n int) {
	frames := make([][]byte, 64)
	for i := range frames {
		frames[i] = make([]byte, 60)
	}
	for sent := 0; sent < n; sent += 64 {
		k := min(64, n-sent)
		for i := range k {
			copy(frames[i], eth(macB, macA, 0x88b5, []byte{byte(sent + i)}, 60))
		}
		if _, err := a.Send(frames[:k]); err != nil {
			t.Error(err)
			return
		}
	}
}

// learnB lets b's port learn B (one frame from it, drained from a).
func learnB(t *testing.T, a, b *MemNIC) {
	send(t, b, eth(bcast, macB, 0x88b5, nil, 60))
	drain(t, a, 1)
}

// TestWhenFullWait: a flat-out sender into a slow in-process receiver
// with a 16-frame queue loses nothing when the receiver's port waits when
// full; with drop (the default) the queue keeps 16 and drops the rest.
func TestWhenFullWait(t *testing.T) {
	const n = 10_000
	for _, tt := range []struct {
		when            WhenFull
		got, full, held int
	}{
		{WhenFullWait, n, 0, 0},
		{WhenFullDrop, 16, n - 16, 0},
	} {
		t.Run(tt.when.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := New(Options{})
				defer s.Close()
				ps := memPorts(t, s, pc("a", "t"), PortConfig{Name: "b", Tenant: "t", QueueDepth: 16, WhenFull: tt.when})
				a, b := ps[0], ps[1]
				learnB(t, a, b)
				done := slowReceiver(t, b, tt.got, time.Millisecond)
				flatOut(t, a, n)
				if got := <-done; got != tt.got {
					t.Errorf("received %d; want %d", got, tt.got)
				}
				sb, _ := s.Port("b")
				if sb.TxFrames != uint64(tt.got) || sb.TxDrops[ReasonQueueFull] != uint64(tt.full) || sb.TxDrops[ReasonHoldExpired] != uint64(tt.held) || sb.Queued != 0 {
					t.Errorf("b: sent %d queue_full %d hold_expired %d queued %d; want %d, %d, %d, 0",
						sb.TxFrames, sb.TxDrops[ReasonQueueFull], sb.TxDrops[ReasonHoldExpired], sb.Queued, tt.got, tt.full, tt.held)
				}
			})
		})
	}
}

// TestWhenFullHoldExpires: a receiver that stops reading costs its
// sender one hold: the frame that waited is dropped (hold_expired), the
// following ones at once, until the receiver takes a frame. Two senders
// wait at once and both get their turn.
func TestWhenFullHoldExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Options{})
		defer s.Close()
		ps := memPorts(t, s, pc("a", "t"), PortConfig{Name: "b", Tenant: "t", QueueDepth: 4, WhenFull: WhenFullWait, Hold: 50 * time.Millisecond}, pc("c", "t"))
		a, b, c := ps[0], ps[1], ps[2]
		learnB(t, a, b)
		drain(t, c, 1)
		start := time.Now()
		flatOut(t, a, 10)
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Errorf("the sender was held %v; want one hold, 50ms", d)
		}
		sb, _ := s.Port("b")
		if sb.Queued != 4 || sb.TxDrops[ReasonHoldExpired] != 6 || sb.Held != 1 {
			t.Errorf("b: queued %d hold_expired %d held %d; want 4, 6, 1 (one hold, then at once)", sb.Queued, sb.TxDrops[ReasonHoldExpired], sb.Held)
		}
		// Taking a frame ends the stall. Then a and c both wait for room.
		drain(t, b, 4)
		var wg sync.WaitGroup
		for _, tx := range []struct {
			m   *MemNIC
			src wire.MAC
		}{{a, macA}, {c, macC}} {
			wg.Go(func() {
				frames := make([][]byte, 6)
				for i := range frames {
					frames[i] = eth(macB, tx.src, 0x88b5, nil, 60)
				}
				if k, err := tx.m.Send(frames); k != 6 || err != nil {
					t.Errorf("Send = %d, %v", k, err)
				}
			})
		}
		synctest.Wait() // 4 queued, both senders wait with frames left
		b.p.q.mu.Lock()
		holders, n := b.p.q.holders, b.p.q.n
		b.p.q.mu.Unlock()
		if holders != 2 || n != 4 {
			t.Errorf("holders %d queued %d; want 2, 4", holders, n)
		}
		for range 2 {
			// Not drain: the waiting senders may fill the room again
			// before drain looks at the queue (it found 4 left, 1 run in 6).
			recvN(t, b, 4)
			synctest.Wait()
		}
		drain(t, b, 4)
		wg.Wait()
		sb, _ = s.Port("b")
		if sb.TxFrames != 4+12 || sb.TxDrops[ReasonHoldExpired] != 6 {
			t.Errorf("b: sent %d hold_expired %d; want 16, 6", sb.TxFrames, sb.TxDrops[ReasonHoldExpired])
		}
		// Detaching a port that a sender waits for ends the wait: down.
		send(t, a, eth(macB, macA, 0x88b5, nil, 60), eth(macB, macA, 0x88b5, nil, 60), eth(macB, macA, 0x88b5, nil, 60), eth(macB, macA, 0x88b5, nil, 60))
		go a.Send([][]byte{eth(macB, macA, 0x88b5, nil, 60)})
		synctest.Wait()
		p := b.p
		b.Close()
		synctest.Wait()
		if got := p.st.txDrops[ReasonDown].Load(); got != 5 {
			t.Errorf("b: down %d; want 5 (4 queued, 1 waiting)", got)
		}
	})
}

// TestWhenFullWaitNIC: a NIC-backed port may wait too: a flat-out
// in-process sender into a pipe port whose far end reads loses nothing.
func TestWhenFullWaitNIC(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	far, near := nic.NewPipe(1500, 4)
	defer far.Close()
	if err := s.Attach(near, PortConfig{Name: "b", Tenant: "t", QueueDepth: 8, WhenFull: WhenFullWait, Hold: time.Minute}); err != nil {
		t.Fatal(err)
	}
	a := memPorts(t, s, pc("a", "t"))[0]
	send(t, far, eth(bcast, macB, 0x88b5, nil, 60))
	if k, err := a.Recv([][]byte{make([]byte, 1514)}, []int{0}); k != 1 || err != nil {
		t.Fatalf("a Recv = %d, %v", k, err)
	}
	const n = 5000
	done := slowReceiver(t, far, n, 0)
	flatOut(t, a, n)
	if got := <-done; got != n {
		t.Errorf("far end received %d; want %d", got, n)
	}
	if sb, _ := s.Port("b"); sb.TxFrames != n || sb.TxDrops != [NumReasons]uint64{} {
		t.Errorf("b: sent %d drops %v; want %d, none", sb.TxFrames, sb.TxDrops, n)
	}
}

// TestFlush: a port with a flush time hands out what it has queued before
// it goes (in-process: through Recv; NIC-backed: its writer); without,
// or when the time runs out, the rest is dropped and counted down.
func TestFlush(t *testing.T) {
	for _, tt := range []struct {
		name       string
		flush      time.Duration
		read       bool
		sent, down uint64
	}{
		{"flush", time.Second, true, 5, 0},
		{"flush, nobody reads", time.Second, false, 0, 5},
		{"discard", 0, true, 0, 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := New(Options{})
				defer s.Close()
				ps := memPorts(t, s, pc("a", "t"), PortConfig{Name: "b", Tenant: "t", Flush: tt.flush})
				a, b := ps[0], ps[1]
				for i := range 5 {
					send(t, a, eth(bcast, macA, 0x88b5, []byte{byte(i)}, 60))
				}
				start := time.Now()
				detached := make(chan struct{})
				go func() {
					if err := s.Detach("b"); err != nil {
						t.Error(err)
					}
					close(detached)
				}()
				synctest.Wait()
				if tt.read {
					bufs, sizes := [][]byte{make([]byte, 1514)}, []int{0}
					for i := range 5 {
						n, err := b.Recv(bufs, sizes)
						if tt.flush == 0 {
							if !errors.Is(err, nic.ErrClosed) {
								t.Errorf("Recv after a discarding Detach: %d, %v; want ErrClosed", n, err)
							}
							break
						}
						if n != 1 || err != nil || bufs[0][14] != byte(i) {
							t.Fatalf("Recv %d = %d, %v, carries %d", i, n, err, bufs[0][14])
						}
					}
				}
				<-detached
				if _, err := b.Recv([][]byte{make([]byte, 1514)}, []int{0}); !errors.Is(err, nic.ErrClosed) {
					t.Errorf("Recv after Detach: %v; want ErrClosed", err)
				}
				if d := time.Since(start); !tt.read && d != tt.flush {
					t.Errorf("Detach took %v; want the flush time %v", d, tt.flush)
				}
				st := b.p.stats()
				if st.TxFrames != tt.sent || st.TxDrops[ReasonDown] != tt.down {
					t.Errorf("b: sent %d down %d; want %d, %d", st.TxFrames, st.TxDrops[ReasonDown], tt.sent, tt.down)
				}
			})
		})
	}
}

// TestFlushNIC: a NIC-backed port flushes through its writer on Close
// of the switch: the far end gets every frame queued when it began.
func TestFlushNIC(t *testing.T) {
	s := New(Options{})
	far, near := nic.NewPipe(1500, 2)
	defer far.Close()
	if err := s.Attach(near, PortConfig{Name: "b", Tenant: "t", QueueDepth: 64, Flush: time.Minute}); err != nil {
		t.Fatal(err)
	}
	a := memPorts(t, s, pc("a", "t"))[0]
	frames := make([][]byte, 40)
	for i := range frames {
		frames[i] = eth(bcast, macA, 0x88b5, []byte{byte(i)}, 60)
	}
	send(t, a, frames...)
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	bufs, sizes := [][]byte{make([]byte, 1514)}, []int{0}
	for i := range 40 {
		if n, err := far.Recv(bufs, sizes); n != 1 || err != nil || bufs[0][14] != byte(i) {
			t.Fatalf("far Recv %d = %d, %v", i, n, err)
		}
	}
	<-closed
}
