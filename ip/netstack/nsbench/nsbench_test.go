package nsbench

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestAllPathsSmall runs every path once with a small transfer, so that
// the benchmark code is itself tested.
func TestAllPathsSmall(t *testing.T) {
	for _, f := range []func(Options) (Result, error){Netstack, NetstackLAN, NetstackLANCopy, Bare, Kernel} {
		r, err := f(Options{MTU: 1500, Bytes: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if r.Bytes != 4<<20 || r.Elapsed <= 0 {
			t.Fatalf("%s: %+v", r.Name, r)
		}
	}
	r, err := Netstack(Options{MTU: 65000, Duration: 50 * time.Millisecond})
	if err != nil || r.Bytes == 0 {
		t.Fatalf("duration mode: %+v %v", r, err)
	}
	for _, f := range []func(Options) (Result, error){Netstack, Bare} {
		r, err := f(Options{MTU: 1500, Bytes: 4 << 20, GSO: true})
		if err != nil || r.Bytes != 4<<20 {
			t.Fatalf("gso: %+v %v", r, err)
		}
	}
	if d, err := RoundTrip(1000); err != nil || d <= 0 {
		t.Fatalf("round trip %v %v", d, err)
	}
}

// BenchmarkTCP compares, in one run, two netstacks over a Pipe, two bare
// gVisor stacks on channel endpoints and kernel loopback TCP; each op is a
// 256 MiB transfer (b.SetBytes makes the MB/s column the goodput).
func BenchmarkTCP(b *testing.B) {
	const size = 256 << 20
	for _, mtu := range []int{1500, 65000} {
		for _, p := range []struct {
			name string
			f    func(Options) (Result, error)
			gso  bool
		}{{"netstack-pipe", Netstack, false}, {"netstack-lan", NetstackLAN, false}, {"netstack-lan-copy", NetstackLANCopy, false}, {"bare-gvisor", Bare, false},
			{"kernel", Kernel, false}, {"netstack-pipe-gso", Netstack, true}, {"bare-gvisor-gso", Bare, true}} {
			if p.gso && mtu > 32<<10 {
				continue
			}
			b.Run(fmt.Sprintf("%s/mtu=%d", p.name, mtu), func(b *testing.B) {
				b.SetBytes(size)
				var total time.Duration
				for i := 0; i < b.N; i++ {
					r, err := p.f(Options{MTU: mtu, Bytes: size, GSO: p.gso})
					if err != nil {
						b.Fatal(err)
					}
					total += r.Elapsed
				}
				b.ReportMetric(float64(size)*8*float64(b.N)/total.Seconds()/1e9, "Gbit/s")
			})
		}
	}
}

// BenchmarkRoundTrip is the command round trip: one Nop request answered
// by the netstack's loop.
func BenchmarkRoundTrip(b *testing.B) {
	d, err := RoundTrip(b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(d.Nanoseconds()), "ns/request")
}

// TestTAPPath runs the TAP+bridge path once (root and /dev/net/tun
// needed; skipped with the kernel's reason otherwise).
func TestTAPPath(t *testing.T) {
	r, err := NetstackTAP(Options{MTU: 1500, Bytes: 4 << 20})
	if err != nil {
		if errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "not permitted") {
			t.Skipf("kernel refused TAP/netns/bridge: %v", err)
		}
		t.Fatal(err)
	}
	if r.Bytes != 4<<20 {
		t.Fatalf("%+v", r)
	}
	t.Logf("%v", r)
}

// TestIperfVXLAN runs `spacenet iperf --via vxlan`'s work with 4 MiB:
// our two LAN switches joined by VXLAN, then the kernel's vxlan pair, in
// one run, and checks the summaries, the ratio line and the kernel's TCP
// reference (root only).
func TestIperfVXLAN(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces (TestIperfVXLANNeedsRoot checks the refusal)")
	}
	var out strings.Builder
	if err := Iperf("vxlan", Options{MTU: 1450, Bytes: 4 << 20}, true, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"iperf: two netstacks via vxlan, mtu 1450, one TCP flow, 4 MiB\nsummary: 4194304 bytes in ",
		"iperf: two netstacks via kernel-vxlan, mtu 1450, one TCP flow, 4 MiB\nsummary: 4194304 bytes in ",
		"same run: vxlan ",
		"reference: kernel tcp over kernel vxlan, 4 MiB: ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output:\n%s\nwant it to contain %q", got, want)
		}
	}
	t.Log(got)
}

// TestIperfVXLANNeedsRoot: as another user than root, both VXLAN ways
// refuse at once, saying they need root and why, before making anything.
func TestIperfVXLANNeedsRoot(t *testing.T) {
	defer func(f func() int) { geteuid = f }(geteuid)
	geteuid = func() int { return 1000 }
	var out strings.Builder
	err := Iperf("vxlan", Options{MTU: 1450, Bytes: 4 << 20}, true, &out)
	want := "iperf via vxlan: needs root: it makes two network namespaces, a veth pair and (for the kernel's pair) vxlan devices and bridges; run it as root"
	if !errors.Is(err, ErrNeedRoot) || err.Error() != want {
		t.Fatalf("err %v; want %q", err, want)
	}
	if _, err := NetstackKernelVXLAN(Options{MTU: 1450, Bytes: 1}); !errors.Is(err, ErrNeedRoot) {
		t.Fatalf("kernel-vxlan: err %v; want ErrNeedRoot", err)
	}
}
