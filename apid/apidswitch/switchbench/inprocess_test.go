package switchbench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRunInProcessSmoke runs the in-process bench with few frames: a row
// per batch with both figures, then both latencies; no frame dropped (a
// drop fails the run).
func TestRunInProcessSmoke(t *testing.T) {
	var out bytes.Buffer
	err := RunInProcess(context.Background(), InProcess{Frames: 2000, Batches: []int{1, 16}, Window: 256, Pings: 50, Rounds: 1, Dir: t.TempDir(), Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 10 || !strings.HasPrefix(lines[0], "APID switch vs plain relay, Unix sockets, 2000 frames per round, window 256, median of 1 rounds") {
		t.Fatalf("output:\n%s", out.String())
	}
	for i, b := range []string{"1", "16"} {
		if f := strings.Fields(lines[3+i]); len(f) != 4 || f[0] != b || f[1] == "0" || f[2] == "0" {
			t.Errorf("batch line %q", lines[3+i])
		}
	}
	for i, w := range []string{"switch", "relay"} {
		if f := strings.Fields(lines[8+i]); len(f) != 3 || f[0] != w {
			t.Errorf("latency line %q", lines[8+i])
		}
	}
}
