package dtnbench

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"spacenet/internal/dtntest"
)

// TestRunSmoke: a small Run against two real dtnds measures every path
// (each round checks every frame in order and every counter on both
// switches) and prints each figure.
func TestRunSmoke(t *testing.T) {
	if _, err := dtntest.Find(); errors.Is(err, dtntest.ErrNotBuilt) {
		t.Skip(err)
	}
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })
	var out strings.Builder
	res, err := Run(Config{Frames: 128, LocalFrames: 1000, Batches: []int{8, 64}, Pings: 10, Runs: 1, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if res.Local.FramesPerSecond <= 0 || len(res.Pair) != 2 || res.PairRTT.P50 <= 0 || res.DtndRTT.P50 <= 0 || res.LocalRTT.P50 <= 0 {
		t.Fatalf("a figure is missing: %+v", res)
	}
	for i, p := range res.Pair {
		if p.FramesPerSecond <= 0 || p.FramesPerBundle < 1 || p.FramesPerBundle > float64(p.Batch) {
			t.Errorf("pair %d: %+v", i, p)
		}
	}
	for _, s := range []string{"switch alone", "pair A->B, batch 8 ", "pair A->B, batch 64", "frame A->B->A, pair", "bundle A->B->A, dtnd alone"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q", s)
		}
	}
}

// TestRunChecksConfig: bad sizes are refused before any dtnd starts.
func TestRunChecksConfig(t *testing.T) {
	for _, c := range []Config{
		{Frames: 0, LocalFrames: 1, Batches: []int{1}, Pings: 1, Runs: 1},
		{Frames: 1, LocalFrames: 1, Batches: nil, Pings: 1, Runs: 1},
		{Frames: 1, LocalFrames: 1, Batches: []int{257}, Pings: 1, Runs: 1},
		{Frames: 1, LocalFrames: 1, Batches: []int{1}, Pings: 1, Runs: 0},
		{Frames: 1, LocalFrames: 1, Batches: []int{16, 16}, Pings: 1, Runs: 1},
	} {
		if _, err := Run(c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
