package main

import (
	"strings"
	"testing"
)

// TestBenchTCP: a tiny matrix (pipe only, 1 MiB) prints its table with
// the ratios, --pairs keeps only the pairs named; flags that cannot work are refused with status 2 before
// anything runs.
func TestBenchTCP(t *testing.T) {
	out, code := spacenet(t, nil, "bench", "tcp", "--bytes", "1M", "--runs", "1", "--trips", "10", "--media", "pipe", "--mtu", "1500", "--quiet")
	if code != 0 || !strings.HasPrefix(out, "tcp bench: 1 MiB each way per transfer (sha256-checked), 10 round trips of 64 bytes, median of 1 runs") ||
		!strings.Contains(out, "\npipe    1500  ours-ours ") || !strings.Contains(out, "\npipe    1500  ratio ours-ours/gvisor-gvisor: throughput ") {
		t.Fatalf("exit status %d, output:\n%s", code, out)
	}
	out, code = spacenet(t, nil, "bench", "tcp", "--bytes", "1M", "--runs", "1", "--trips", "10", "--media", "pipe", "--mtu", "1500", "--pairs", "gvisor-gvisor", "--quiet")
	if code != 0 || !strings.Contains(out, "\npipe    1500  gvisor-gvisor ") || strings.Contains(out, "ours-ours") {
		t.Fatalf("--pairs gvisor-gvisor: exit status %d, output:\n%s", code, out)
	}
	for _, tc := range []struct{ args, want string }{
		{"--media carrier", `spacenet: --media "carrier": want pipe, lan or tap` + "\n"},
		{"--pairs kernel-ours", `spacenet: --pairs "kernel-ours": want one of [ours-ours gvisor-gvisor gvoff-gvoff ours-kernel gvisor-kernel kernel-kernel]` + "\n"},
		{"--mtu 100", "spacenet: --mtu 100: want 576 to 65535\n"},
		{"--runs 0", "spacenet: --runs 0 and --trips 2000: both must be at least 1\n"},
	} {
		out, code := spacenet(t, nil, append([]string{"bench", "tcp"}, strings.Fields(tc.args)...)...)
		if code != 2 || out != tc.want {
			t.Errorf("%s: exit status %d, output %q, want 2 and %q", tc.args, code, out, tc.want)
		}
	}
}
