package stackbench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunSmall runs the whole matrix once with small sizes (every
// transfer sha256-checked both ways) and checks the table: a row per
// pairing the medium can carry, and the ratio lines. Media the kernel
// refuses (no root) are reported as skipped, not failed.
func TestRunSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, Config{Bytes: 1 << 20, Trips: 20, Runs: 1, MTUs: []int{1500, 9000}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.WriteTable(&out)
	t.Logf("\n%s", out.String())
	rows := map[string]int{}
	for _, r := range rep.Rows {
		rows[r.Medium]++
		if len(r.MBps) != 1 || r.MBps[0] <= 0 || r.P50[0] <= 0 || r.P99[0] < r.P50[0] {
			t.Errorf("%s %d %v: %+v", r.Medium, r.MTU, r.Pairing, r)
		}
	}
	// Pairings at two MTUs: no kernel on a pipe, no checksum offload
	// on TAPs; the kernel's pairs only where the kernel let us.
	want := map[string]int{"pipe": 6, "lan": 10, "tap": 8}
	if len(rep.Skipped) > 0 {
		t.Logf("skipped (not root?): %v", rep.Skipped)
		want = map[string]int{"pipe": 6, "lan": 6}
	}
	for m, n := range want {
		if rows[m] != n {
			t.Errorf("%s: %d rows, want %d", m, rows[m], n)
		}
	}
	for _, line := range []string{"pipe    1500  ratio ours-ours/gvisor-gvisor: ", "pipe    9000  ratio ours-ours/gvoff-gvoff: ", "lan     1500  ratio ours-ours/gvisor-gvisor: "} {
		if !strings.Contains(out.String(), "\n"+line) {
			t.Errorf("no line %q", line)
		}
	}
}

// TestRunRefusesBadConfig: nothing runs with a zero size.
func TestRunRefusesBadConfig(t *testing.T) {
	if _, err := Run(context.Background(), Config{Bytes: 0, Trips: 1, Runs: 1, MTUs: []int{1500}}); err == nil || !strings.Contains(err.Error(), "Bytes 0") {
		t.Fatalf("err %v", err)
	}
}

// TestRunTimeout: a transfer that cannot finish in Config.Timeout ends
// with an error naming the pair, and leaves nothing running (goleak).
func TestRunTimeout(t *testing.T) {
	for _, timeout := range []time.Duration{time.Nanosecond, 5 * time.Millisecond} {
		start := time.Now()
		_, err := Run(context.Background(), Config{Bytes: 128 << 20, Trips: 1, Runs: 1, MTUs: []int{1500}, Media: []string{"pipe"}, Timeout: timeout})
		if err == nil || !strings.Contains(err.Error(), "pipe mtu 1500 ours-ours run 1: throughput: ") {
			t.Errorf("timeout %v: err %v", timeout, err)
		}
		t.Logf("timeout %v: %v after %v", timeout, err, time.Since(start))
	}
}
