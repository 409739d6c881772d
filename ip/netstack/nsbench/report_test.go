package nsbench

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunCompareSmoke: at MTU 1500 every path prints a line (the GSO
// ones too), then the ratios and the round trip.
func TestRunCompareSmoke(t *testing.T) {
	var out bytes.Buffer
	if err := RunCompare(Compare{Bytes: 2 << 20, Runs: 1, MTUs: []int{1500}, Requests: 100, Out: &out}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 11 || !strings.HasPrefix(lines[0], "netstack bench: 2 MiB per transfer, median of 1") ||
		!strings.HasPrefix(lines[10], "command round trip (Nop): ") || !strings.HasSuffix(lines[10], " ns (100 requests)") {
		t.Fatalf("output:\n%s", out.String())
	}
	for i, name := range []string{"netstack pipe ", "netstack lan ", "netstack lan copy ", "bare gVisor channel ", "kernel loopback ", "netstack pipe gso ", "bare gVisor gso "} {
		if !strings.HasPrefix(lines[1+i], "mtu  1500  "+name) {
			t.Errorf("line %d %q, want path %q", 1+i, lines[1+i], name)
		}
	}
}

// TestIperf: the header, then the summary with every byte sent; an
// unknown via is refused before anything runs.
func TestIperf(t *testing.T) {
	var out bytes.Buffer
	if err := Iperf("pipe", Options{MTU: 1500, Bytes: 4 << 20}, true, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || lines[0] != "iperf: two netstacks via pipe, mtu 1500, one TCP flow, 4 MiB" ||
		!strings.HasPrefix(lines[1], "summary: 4194304 bytes in ") {
		t.Fatalf("output:\n%s", out.String())
	}
	out.Reset()
	if err := Iperf("carrier pigeon", Options{MTU: 1500, Bytes: 1 << 20}, true, &out); err == nil || out.Len() != 0 {
		t.Fatalf("unknown via: %v, printed %q", err, out.String())
	}
}
