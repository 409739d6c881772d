package ipcbench

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestProcesses runs the harness briefly with every process separate: each
// caller checks every reply (a wrong one fails its command), so the test
// checks that every path answers every call right, and the report's counts.
func TestProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const calls, chunks, rounds, parallel = 320, 2, 2, 8
	rep, err := Run(ctx, Config{
		Peer: func(role string, args ...string) *exec.Cmd { return testCommand(append([]string{role}, args...)...) },
		Switch: func(socketDir, policyFile string) *exec.Cmd {
			return testCommand("switch", socketDir, policyFile)
		},
		Calls: calls, Chunks: chunks, Rounds: rounds, Parallel: parallel,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Paths {
		if got := len(rep.Seq[p]); got != rounds {
			t.Fatalf("%s: %d sequential rounds, want %d", p, got, rounds)
		}
		for i, r := range rep.Seq[p] {
			if r.Calls != calls || r.Err != "" || r.P50 <= 0 || r.P50 > r.P99 || r.P99 > r.P999 || r.Rate <= 0 {
				t.Errorf("%s round %d: %+v", p, i, r)
			}
		}
		want := 0
		if p.Parallel() {
			want = rounds
		}
		if got := len(rep.Par[p]); got != want {
			t.Fatalf("%s: %d parallel rounds, want %d", p, got, want)
		}
		for i, r := range rep.Par[p] {
			if r.Calls != calls || r.Err != "" || r.Rate <= 0 {
				t.Errorf("%s parallel round %d: %+v", p, i, r)
			}
		}
	}
	var b strings.Builder
	rep.WriteTable(&b)
	for _, p := range Paths {
		if !strings.Contains(b.String(), pathNames[p]) {
			t.Errorf("table has no row %q:\n%s", pathNames[p], b.String())
		}
	}
}
