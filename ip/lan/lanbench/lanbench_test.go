package lanbench

import (
	"errors"
	"os/exec"
	"testing"
	"time"
)

// TestKernelPaths runs the three kernel paths briefly (a smoke test that the
// benchmark works; it asserts traffic flowed, not speed).
func TestKernelPaths(t *testing.T) {
	if testing.Short() {
		t.Skip("kernel benchmark: not in -short")
	}
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Skip("iperf3 missing: run scripts/deps.sh")
	}
	for name, f := range map[string]func(time.Duration) (Kernel, error){"ours": Ours, "relay": Relay, "bridge": Bridge} {
		k, err := f(time.Second)
		if errors.Is(err, ErrSetup) {
			t.Skipf("%s: kernel refused: %v", name, err)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if k.TCPGbps <= 0 || k.UDPpps <= 0 {
			t.Errorf("%s: %+v: no traffic", name, k)
		}
		t.Logf("%s: TCP %.2f Gbit/s, UDP %.0f pps (%.1f%% lost)", name, k.TCPGbps, k.UDPpps, 100*k.UDPLoss)
		for _, p := range k.Ports {
			t.Logf("  port %s: rx %d tx %d rx drops %v tx drops %v nic %+v", p.Name, p.RxFrames, p.TxFrames, p.RxDrops, p.TxDrops, p.NICStats)
		}
	}
}

func TestMem(t *testing.T) {
	for _, f := range []func(int, time.Duration) (Rate, error){Mem, PipeBaseline} {
		r, err := f(64, 20*time.Millisecond)
		if err != nil || r.Frames == 0 || r.Bytes != r.Frames*64 {
			t.Errorf("rate %+v, %v", r, err)
		}
	}
}

// BenchmarkTAPvsBridge: iperf3 between two namespaces through our switch
// (TAP ports) and through a Linux bridge (veth), in the same run.
func BenchmarkTAPvsBridge(b *testing.B) {
	for range b.N {
		ours, err := Ours(2 * time.Second)
		if err != nil {
			b.Skip(err)
		}
		br, err := Bridge(2 * time.Second)
		if err != nil {
			b.Skip(err)
		}
		b.ReportMetric(ours.UDPpps/1e3, "ours-kpps")
		b.ReportMetric(br.UDPpps/1e3, "bridge-kpps")
		b.ReportMetric(ours.TCPGbps, "ours-TCP-Gbit/s")
		b.ReportMetric(br.TCPGbps, "bridge-TCP-Gbit/s")
	}
}
