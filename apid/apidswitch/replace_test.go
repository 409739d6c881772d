package apidswitch

import (
	"fmt"
	"net"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/sysmsg"
)

// TestReplacedConnectionDrained: a guest that writes frames and closes, then
// reconnects at once (a restart), must not lose what it wrote. Before the
// switch drained a replaced connection, it closed the old socket with the
// frames still unread: 200 write-and-close connections delivered 2 or 3
// frames and counted none of the others.
func TestReplacedConnectionDrained(t *testing.T) {
	tests := []struct {
		name   string
		conns  int
		frames int // per connection
	}{
		{"one frame each", 200, 1},
		{"a batch each", 20, 17},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startSwitch(t, Config{QueueLen: 4096})
			var want []frame.Frame
			for i := range tc.conns {
				c, err := net.Dial("unix", h.sw.SocketPath("camera"))
				if err != nil {
					t.Fatal(err)
				}
				var b []byte
				for j := range tc.frames {
					f := mkFrame(t, frame.TM, 0x010, 0x020, fmt.Sprintf("conn %d frame %d", i, j))
					want = append(want, f)
					b = append(b, f[:]...)
				}
				if _, err := c.Write(b); err != nil {
					t.Fatal(err)
				}
				c.Close()
			}
			// Every frame must reach the processor, byte-exact. Connections
			// are drained concurrently, so order across them is not fixed;
			// within one connection it is.
			proc := h.dial("processor")
			got := make(map[frame.Frame]int)
			for range want {
				got[readFrame(t, proc)]++
			}
			for _, f := range want {
				if got[f] != 1 {
					t.Fatalf("frame %q delivered %d times, want once", f.Payload(), got[f])
				}
			}
			// The writer counts frames delivered after its write returns, so
			// the processor can read them before they are counted. A HEALTH
			// round trip settles that: the reply, asked for after the last
			// frame was read, goes out in a later write by the same writer,
			// which counts each write before it starts the next.
			if extra := barrier(t, proc, 0x020); len(extra) != 0 {
				t.Fatalf("processor got %d frames more than were sent", len(extra))
			}
			c := h.counters("camera")
			if n := uint64(len(want)); c.Received != n || c.Delivered != n {
				t.Errorf("camera received %d, delivered %d, want %d each", c.Received, c.Delivered, n)
			}
		})
	}
}

// TestConnectionChurnLimited: a guest reconnecting as fast as it can (issue
// 14's churn attack) is accepted acceptBurst times at once, then acceptRate
// times a second: acceptBurst + acceptRate/2 connects take at least half a
// second to be accepted (before, 10,000 a second were), and none is refused
// or lost; another tenant's frames flow meanwhile.
func TestConnectionChurnLimited(t *testing.T) {
	h := startSwitch(t, Config{})
	proc := h.dial("processor")
	spaceos := h.dial("spaceos")
	const n = acceptBurst + acceptRate/2
	start := time.Now()
	for range n {
		c, err := net.Dial("unix", h.sw.SocketPath("camera"))
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	for {
		if e := h.waitEvent("camera", sysmsg.Connected, sysmsg.Replaced); e.Generation == n {
			break
		}
		// Meanwhile spaceos -> processor is not held up by the churn.
		f := mkFrame(t, frame.TM, 0x100, 0x020, "meanwhile")
		spaceos.WriteFrame(&f)
		if got := readFrame(t, proc); got != f {
			t.Fatalf("processor got %x", got[:16])
		}
	}
	if el, least := time.Since(start), time.Second/2; el < least*9/10 {
		t.Errorf("%d connects accepted in %v: want at least %v at %d a second after a burst of %d", n, el, least, acceptRate, acceptBurst)
	}
}
