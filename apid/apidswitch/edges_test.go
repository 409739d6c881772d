package apidswitch

import (
	"fmt"
	"testing"

	"spacenet/apid/frame"
)

// TestEdges: the frames each sender forwarded to each tenant, counted on
// the direct path (camera to processor, read at once), the queued path
// (processor to spaceos, who never connects) and from the ground; refused
// frames are on no edge.
func TestEdges(t *testing.T) {
	h := startSwitch(t, Config{Policy: restricted()})
	cam, proc := h.dial("camera"), h.dial("processor")
	var fs []frame.Frame
	for range 5 {
		fs = append(fs, mkFrame(t, frame.TM, 0x010, 0x020, "p"))
	}
	fs = append(fs, mkFrame(t, frame.TM, 0x010, 0x100, "refused")) // Not_permitted
	if err := cam.WriteFrames(fs); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		readFrame(t, proc)
	}
	barrier(t, cam, 0x010) // the ERROR, then the HEALTH reply
	back := []frame.Frame{
		mkFrame(t, frame.TM, 0x020, 0x010, "c"), mkFrame(t, frame.TM, 0x020, 0x010, "c"),
		mkFrame(t, frame.TM, 0x020, 0x100, "s"),
	}
	if err := proc.WriteFrames(back); err != nil {
		t.Fatal(err)
	}
	barrier(t, proc, 0x020)
	for range 2 {
		readFrame(t, cam)
	}
	for range 4 {
		g := mkFrame(t, frame.TC, 0x7F0, 0x011, "g")
		if err := h.sw.Inject(&g); err != nil {
			t.Fatal(err)
		}
	}
	want := []EdgeCount{
		{"camera", "processor", 5},
		{"processor", "camera", 2}, {"processor", "spaceos", 1},
		{"ground", "camera", 4},
	}
	if got := h.sw.Edges(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("edges %v, want %v", got, want)
	}
}
