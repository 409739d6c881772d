package switched

import (
	"testing"

	"spacenet/camera/cameraipc"
	"spacenet/ipc"
)

// TestServerPathAllocs: a small call through the switch, both tenants in
// this process: the InOrder server decodes into a reused ipc.Request
// (ipc.ParseRequestInto), and the whole round trip (client, switch,
// server, generated dispatcher, probes) allocates nothing once the pools
// are warm.
func TestServerPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race (sync.Pool drops objects under the race detector)")
	}
	ce := startCamera(t)
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
	n := testing.AllocsPerRun(2000, call)
	t.Logf("%.2f allocations per round trip", n)
	if n > maxRoundTripAllocs {
		t.Errorf("%.2f allocations per round trip, want at most %d", n, maxRoundTripAllocs)
	}
}

// maxRoundTripAllocs: none (ParseRequest allocated 2 before
// ParseRequestInto; appending a probe to a full frame slice 1 more).
const maxRoundTripAllocs = 0

// TestGeneratedClientAllocs: the same round trip through the generated
// client (cameraipc.CameraClient.Status): its Request, Reply and buffers
// come from ipc.Scratch's pool, so it allocates nothing either (3 per call
// when they were the method's locals, escaping through ipc.Transport).
func TestGeneratedClientAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race (sync.Pool drops objects under the race detector)")
	}
	ce := startCamera(t)
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
	if n := testing.AllocsPerRun(1000, call); n != 0 {
		t.Errorf("%.2f allocations per Status+SetMode through the generated client, want 0", n)
	}
}
