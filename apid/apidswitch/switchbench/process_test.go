package switchbench

import (
	"fmt"
	"testing"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
	"spacenet/apid/policy"
)

// counters returns the switch's counters of tenant name.
func counters(t *testing.T, sw *apidswitch.Switch, name string) apidswitch.Counters {
	t.Helper()
	for _, c := range sw.Counters() {
		if c.Tenant == name {
			if !c.Balanced() {
				t.Errorf("%s counters not balanced: %+v", name, c)
			}
			return c
		}
	}
	t.Fatalf("no tenant %s", name)
	return apidswitch.Counters{}
}

// TestProcessesLossless: a camera process writing flat out, 1, 16 and 256
// frames per write, to a processor process reading as fast as it can,
// through a switch whose queues hold 64 frames: every frame arrives, in
// order, no ERROR comes back, and the switch's counters say the same.
func TestProcessesLossless(t *testing.T) {
	for _, batch := range []int{1, 16, 256} {
		t.Run(fmt.Sprint(batch), func(t *testing.T) {
			frames := 100_000
			if batch == 1 {
				frames = 20_000
			}
			sw := startSwitch(t, nil, 64)
			f, err := Throughput(selfLauncher, Target{Sender: sw.SocketPath("camera"), Receiver: sw.SocketPath("processor"), Src: 0x010, Dst: 0x020}, frames, batch)
			if err != nil {
				t.Fatal(err)
			}
			if f.Sent != frames || f.Received != frames || f.Errors != 0 || f.OutOfSeq != 0 {
				t.Errorf("sent %d received %d ERRORs %d out of order %d, want %d, %d, 0, 0", f.Sent, f.Received, f.Errors, f.OutOfSeq, frames, frames)
			}
			c := counters(t, sw, "camera")
			if c.Received != uint64(frames) || c.Delivered != uint64(frames) || c.DroppedTotal() != 0 {
				t.Errorf("camera counters %+v", c)
			}
			if p := counters(t, sw, "processor"); p.NoticesLost != 0 {
				t.Errorf("processor notices lost %d", p.NoticesLost)
			}
			t.Logf("batch %d: %.0f frames/s", batch, f.FPS)
		})
	}
}

// TestProcessesDropCounted: with when_full = "drop" on the receiver the
// switch refuses what does not fit at once, and every refusal comes back
// to the sender: sent = received + ERRORs, exactly, and the counters
// agree. (Whether any frame is refused depends on the machine's speed.)
func TestProcessesDropCounted(t *testing.T) {
	p := policy.Default()
	p.Tenants[1].Flow.WhenFull = policy.Drop // processor
	sw := startSwitch(t, p, 64)
	const frames = 100_000
	f, err := Throughput(selfLauncher, Target{Sender: sw.SocketPath("camera"), Receiver: sw.SocketPath("processor"), Src: 0x010, Dst: 0x020}, frames, 256)
	if err != nil {
		t.Fatal(err)
	}
	c := counters(t, sw, "camera")
	if f.Sent != frames || f.Received+f.Errors != frames || c.Dropped[frame.HostBusy] != uint64(f.Errors) || c.Delivered != uint64(f.Received) || c.NoticesLost != 0 {
		t.Errorf("sent %d received %d ERRORs %d; camera delivered %d Host_busy %d notices lost %d", f.Sent, f.Received, f.Errors, c.Delivered, c.Dropped[frame.HostBusy], c.NoticesLost)
	}
	t.Logf("%d of %d refused with Host_busy, every one answered", f.Errors, frames)
}

// TestProcessesPingPong: one-frame round trips between two processes
// through the switch and through the relay.
func TestProcessesPingPong(t *testing.T) {
	sw := startSwitch(t, nil, 0)
	l, err := PingPong(selfLauncher, Target{Sender: sw.SocketPath("camera"), Receiver: sw.SocketPath("processor"), Src: 0x010, Dst: 0x020}, 2000)
	if err != nil {
		t.Fatal(err)
	}
	r, err := StartRelay(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rl, err := PingPong(selfLauncher, Target{Sender: r.A, Receiver: r.B, Src: 0x010, Dst: 0x020}, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if l.P50 <= 0 || rl.P50 <= 0 {
		t.Fatalf("latencies %+v %+v", l, rl)
	}
	t.Logf("switch p50 %v p99 %v; relay p50 %v p99 %v", l.P50, l.P99, rl.P50, rl.P99)
}
