package apidswitch

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/internal/logging/logtest"
)

// TestLogStuckNeverStallsSwitch is issue 14's attack on the log: the
// switch's logger writes to a pipe nobody reads, and camera floods system
// frames nobody handles, each worth a log line. processor and a spaceos that
// connects during the flood must still be answered and exchange frames, and
// every flood frame must be counted.
func TestLogStuckNeverStallsSwitch(t *testing.T) {
	const flood = 5000
	pipe := logtest.NewPipe(t)
	h := startSwitch(t, Config{Policy: restricted(), Logger: slog.New(slog.NewTextHandler(pipe.W, nil))})
	t.Cleanup(pipe.Unstick) // before the switch stops: the old switch's stop would block on its log
	cam := h.dial("camera")
	proc := h.dial("processor")
	pipe.Fill() // from here on, any write to the log blocks

	fs := make([]frame.Frame, flood)
	for i := range fs {
		fs[i] = mkFrame(t, frame.TC, 0x010, 0x005, "unhandled")
	}
	floodDone := make(chan error, 1)
	go func() {
		cam.SetWriteDeadline(time.Now().Add(testTimeout))
		floodDone <- cam.WriteFrames(fs)
	}()

	sp := h.dial("spaceos") // a new connection during the flood: answered
	barrier(t, sp, 0x100)
	for i := range 100 {
		out := mkFrame(t, frame.TM, 0x020, 0x100, "ping")
		if err := proc.WriteFrame(&out); err != nil {
			t.Fatal(err)
		}
		if got := readFrame(t, sp); got != out {
			t.Fatalf("frame %d: spaceos read %x, want %x", i, got[:frame.HeaderSize], out[:frame.HeaderSize])
		}
		back := mkFrame(t, frame.TM, 0x100, 0x020, "pong")
		if err := sp.WriteFrame(&back); err != nil {
			t.Fatal(err)
		}
		if got := readFrame(t, proc); !bytes.Equal(got[:], back[:]) {
			t.Fatalf("frame %d: processor read %x, want %x", i, got[:frame.HeaderSize], back[:frame.HeaderSize])
		}
	}

	select {
	case err := <-floodDone:
		if err != nil {
			t.Fatalf("flood: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("the flood never got through")
	}
	barrier(t, cam, 0x010)
	if n := h.sw.SystemUnhandled(); n != flood {
		t.Errorf("SystemUnhandled = %d, want %d", n, flood)
	}
	if c := h.counters("camera"); c.Received != flood+1 || c.DeliveredSystem != flood+1 {
		t.Errorf("camera received %d, delivered to system %d; want %d and %d", c.Received, c.DeliveredSystem, flood+1, flood+1)
	}
	for _, name := range []string{"processor", "spaceos"} {
		if c := h.counters(name); c.Delivered != 100 || c.DroppedTotal() != 0 {
			t.Errorf("%s delivered %d dropped %d, want 100 and 0", name, c.Delivered, c.DroppedTotal())
		}
	}
}
