package dtn

import (
	"testing"

	"spacenet/apid/frame"
)

// TestSendRemoteAllocs: handing a frame to the link (the switch's reader
// calls it per frame) allocates nothing while the queue has room, and
// neither does batching it.
func TestSendRemoteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	l, err := NewLink(LinkConfig{Agent: "127.0.0.1:1", Endpoint: "dtn://a/s", QueueLen: 1024})
	if err != nil {
		t.Fatal(err)
	}
	var f frame.Frame
	_ = frame.Encode(&f, frame.TM, 0x010, 0x020, []byte("x"))
	buf := make([]byte, 0, batchHeader+MaxBatch*frame.Size)
	if n := testing.AllocsPerRun(500, func() {
		if err := l.SendRemote(0, &f); err != nil {
			t.Fatal(err)
		}
		it := <-l.queue
		buf = AppendFrame(AppendBatch(buf[:0], 1, 2), &it.f)
	}); n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
}
