package stackbench

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/internal/checkstream"
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
	want := map[string]int{"pipe": 6, "lan": 12, "tap": 10}
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

// TestRunKernelKernel: the kernel's TCP in two namespaces, alone
// (Config.Pairings), 1 MiB each way sha256-checked on both sides: a
// kernel-kernel row per MTU on the LAN (two TAPs on the switch) and on
// the TAP medium (a veth into the bridge), none on the pipe, and the
// ratio line against ours-ours only where ours-ours ran too. Skipped
// where the kernel refuses the namespaces (not root).
func TestRunKernelKernel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kk := Pairing{Kernel, Kernel}
	const size = 1 << 20
	rep, err := Run(ctx, Config{Bytes: size, Trips: 20, Runs: 2, MTUs: []int{1500, 9000}, Pairings: []Pairing{kk}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Skipped) > 0 {
		t.Skipf("the kernel refused (not root?): %v", rep.Skipped)
	}
	var out bytes.Buffer
	rep.WriteTable(&out)
	t.Logf("\n%s", out.String())
	var got []string
	for _, r := range rep.Rows {
		got = append(got, fmt.Sprintf("%s %d %v", r.Medium, r.MTU, r.Pairing))
		if len(r.MBps) != 2 || r.MBps[0] <= 0 || r.P50[0] <= 0 || r.P99[1] < r.P50[1] {
			t.Errorf("%s %d %v: %+v", r.Medium, r.MTU, r.Pairing, r)
		}
	}
	want := []string{"lan 1500 kernel-kernel", "lan 9000 kernel-kernel", "tap 1500 kernel-kernel", "tap 9000 kernel-kernel"}
	if !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if strings.Contains(out.String(), "ratio") {
		t.Errorf("a ratio line without ours-ours:\n%s", out.String())
	}
	// The bytes themselves: one transfer between the two kernels on each
	// medium, counted and summed on both sides.
	for _, name := range []string{"lan", "tap"} {
		m, err := newMedium(name, 1500)
		if err != nil {
			t.Fatal(err)
		}
		p, err := newPair(m, kk)
		if err != nil {
			m.close()
			t.Fatal(err)
		}
		if p.client.addr != kernelClientAddr || p.server.addr != kernelAddr {
			t.Errorf("%s: client %v, server %v", name, p.client.addr, p.server.addr)
		}
		if _, err := throughput(ctx, p, 5101, size, checkstream.Sum(size)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		p.close()
		m.close()
	}
}

// TestRunRefusesBadConfig: nothing runs with a zero size or a pairing
// the package does not measure.
func TestRunRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Bytes: 0, Trips: 1, Runs: 1, MTUs: []int{1500}}, "Bytes 0"},
		{Config{Bytes: 1, Trips: 1, Runs: 1, MTUs: []int{1500}, Pairings: []Pairing{{Kernel, Ours}}}, "Pairings: kernel-ours is not one of "},
	} {
		if _, err := Run(context.Background(), tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.c, err, tc.want)
		}
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
