package main

import (
	"fmt"
	"testing"
	"time"

	"spacenet/ops/control"
)

// TestEdgeRows: each policy edge with its total and its rate between two
// snapshots one second apart, then a pair outside the policy in force.
func TestEdgeRows(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	snap := func(at time.Time, camProc, camGround, groundCam, old uint64) *control.APID {
		return &control.APID{
			Time: at,
			Tenants: []control.Tenant{
				{Name: "camera", APIDs: []string{"0x010-0x01F"}, CanSendTo: []string{"processor"}, MayDownlink: true},
				{Name: "processor", APIDs: []string{"0x020-0x02F"}},
			},
			Ground: control.Tenant{Name: "ground", APIDs: []string{"0x7F0"}, CanSendTo: []string{"camera"}},
			Edges: []control.Edge{{From: "camera", To: "processor", Frames: camProc}, {From: "camera", To: "ground", Frames: camGround},
				{From: "ground", To: "camera", Frames: groundCam}, {From: "processor", To: "old", Frames: old}},
		}
	}
	a := snap(t0, 100, 10, 0, 5)
	b := snap(t0.Add(2*time.Second), 300, 16, 4, 5)
	got := fmt.Sprint(rowsOf(b.Since(a)))
	want := fmt.Sprint([]edgeRow{
		{"camera", "processor", 300, "100"}, {"camera", "ground", 16, "3"},
		{"ground", "camera", 4, "2"}, {"processor", "old", 5, "0"},
	})
	if got != want {
		t.Errorf("edges\n got %s\nwant %s", got, want)
	}
	if got := fmt.Sprint(rowsOf(b.Since(nil))[0]); got != "{camera processor 300 -}" {
		t.Errorf("without a previous snapshot: %s", got)
	}
}
