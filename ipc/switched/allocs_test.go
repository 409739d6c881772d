package switched

import (
	"testing"

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
