package switchbench

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"spacenet/apid/apidswitch"
)

// TestComparePaired: every round runs three flows, off, on, off, with the
// variant on for the middle one only (its start and stop counted); every
// frame arrives and the table has a line per batch.
func TestComparePaired(t *testing.T) {
	var out bytes.Buffer
	starts, stops := 0, 0
	res, err := ComparePaired(context.Background(), PairedConfig{
		Launcher: selfLauncher, Frames: 2000, Batches: []int{1, 16}, Rounds: 3, Dir: t.TempDir(), Out: &out,
		Switch: func(dir string) (*apidswitch.Switch, func(), error) {
			return Start(context.Background(), apidswitch.Config{SocketDir: dir})
		},
		On: func(*apidswitch.Switch) (func() error, error) {
			starts++
			return func() error { stops++; return nil }, nil
		},
		What: "nothing",
	})
	if err != nil {
		t.Fatal(err)
	}
	if starts != 6 || stops != 6 || len(res) != 2 {
		t.Fatalf("variant started %d and stopped %d times, %d results; want 6, 6, 2", starts, stops, len(res))
	}
	for _, r := range res {
		if len(r.OnOff) != 3 || len(r.AA) != 3 || len(r.CPUOnOff) != 3 || len(r.CPUAA) != 3 || r.Lost != 0 || r.Dropped != 0 {
			t.Errorf("batch %d: %+v", r.Batch, r)
		}
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 6 || !strings.HasPrefix(lines[4], "1 ") || !strings.HasPrefix(lines[5], "16 ") {
		t.Errorf("table:\n%s", out.String())
	}
}

// TestQuartiles checks benchstat.Percentile's nearest-rank rule on odd and
// even counts (no interpolation between samples).
func TestQuartiles(t *testing.T) {
	for _, tc := range []struct {
		v         []float64
		q1, m, q3 float64
	}{
		{nil, 0, 0, 0},
		{[]float64{7}, 7, 7, 7},
		{[]float64{2, 1}, 1, 1, 2},
		{[]float64{4, 1, 3, 2}, 1, 2, 3},
		{[]float64{4, 1, 3, 2, 5}, 2, 3, 4},
		{[]float64{0.9, 1.1, 1.0, 0.8, 1.2, 1.05, 0.95, 1.15}, 0.9, 1.0, 1.1},
	} {
		in := slices.Clone(tc.v)
		if q1, m, q3 := Quartiles(tc.v); q1 != tc.q1 || m != tc.m || q3 != tc.q3 {
			t.Errorf("Quartiles(%v) = %v, %v, %v; want %v, %v, %v", in, q1, m, q3, tc.q1, tc.m, tc.q3)
		}
		if !slices.Equal(in, tc.v) {
			t.Errorf("Quartiles modified its argument: %v; was %v", tc.v, in)
		}
	}
}
