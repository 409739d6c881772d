package switched

import (
	"testing"
	"time"

	"spacenet/camera/cameraipc"
	"spacenet/ipc"
)

// TestServerPathAllocs: a small call through the switch, both tenants in
// this process: the InOrder server decodes into a reused ipc.Request
// (ipc.ParseRequestInto), and the whole round trip (client, switch,
// server, generated dispatcher, replies kept for a retry) allocates
// nothing once the pools are warm.
func TestServerPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race (sync.Pool drops objects under the race detector)")
	}
	ce := startCameraNode(t, frozenClock)
	ctx := ctxT(t)
	cl := ce.proc.Client(cameraAPID)
	req := &ipc.Request{Op: 3, ReplyCap: 64} // Camera.status
	var rep ipc.Reply
	call := func() {
		if err := cl.Call(ctx, req, &rep); err != nil {
			t.Fatal(err)
		}
	}
	for range 5000 {
		call() // warm the pools and the node's recycled replies (4096 frames kept at most)
	}
	wantKeptFull(t, ce.camN)
	n := testing.AllocsPerRun(2000, call)
	t.Logf("%.2f allocations per round trip", n)
	if n > maxRoundTripAllocs {
		t.Errorf("%.2f allocations per round trip, want at most %d", n, maxRoundTripAllocs)
	}
}

// frozenClock stops the camera node's clock, so that the replies it keeps
// for a retry (send.go) are bounded by their number (maxKeptReplyFrames)
// and not by their age (keepReplies, 1 s).
//
// With the real clock, how many replies the node keeps is how many it wrote
// in the last second: a rate. The sentReplys (and their frames) are
// recycled through the keptReplies' free list, so the node allocates only
// when the number kept passes its previous high-water mark, 3 allocations
// per new one. A warm-up that ran slower than the measurement (a loaded
// machine: 2 cores shared) left a lower high-water mark, and the
// measurement allocated to reach the new one: about 1 run in 10 showed
// 1.00 allocation per call pair. With the clock stopped, the warm-up
// (more than maxKeptReplyFrames replies) fills the ring to its bound, the most
// any rate can keep, so the measurement is exact whatever the machine's
// load.
func frozenClock(c *Config) {
	t0 := time.Now()
	c.Now = func() time.Time { return t0 }
}

// wantKeptFull checks that the warm-up filled n's ring of unconfirmed
// replies (every reply here is one frame): the measurement then recycles.
func wantKeptFull(t *testing.T, n *Node) {
	t.Helper()
	n.kept.mu.Lock()
	kept := n.kept.frames
	n.kept.mu.Unlock()
	if kept != maxKeptReplyFrames {
		t.Fatalf("after the warm-up the camera node keeps %d reply frames, want %d", kept, maxKeptReplyFrames)
	}
}

// maxRoundTripAllocs: none (ParseRequest allocated 2 before
// ParseRequestInto).
const maxRoundTripAllocs = 0

// TestGeneratedClientAllocs: the same round trip through the generated
// client (cameraipc.CameraClient.Status): its Request, Reply and buffers
// come from ipc.Scratch's pool, so it allocates nothing either (3 per call
// when they were the method's locals, escaping through ipc.Transport).
func TestGeneratedClientAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race (sync.Pool drops objects under the race detector)")
	}
	ce := startCameraNode(t, frozenClock)
	ctx := ctxT(t)
	client := cameraipc.NewCameraClient(ce.proc.Client(cameraAPID))
	call := func() {
		if _, err := client.Status(ctx); err != nil {
			t.Fatal(err)
		}
		if err := client.SetMode(ctx, cameraipc.CameraModeScience); err != nil {
			t.Fatal(err)
		}
	}
	for range 2500 {
		call()
	}
	wantKeptFull(t, ce.camN)
	if n := testing.AllocsPerRun(1000, call); n != 0 {
		t.Errorf("%.2f allocations per Status+SetMode through the generated client, want 0", n)
	}
}
