package lan

import (
	"bufio"
	"context"
	"encoding/json"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"spacenet/internal/netnstest"
	"spacenet/ip/nic"
)

// tapInNetns opens a TAP whose fd the switch owns, moves the interface
// into ns with addr (a prefix) and attaches it to s as port name.
func tapInNetns(t *testing.T, s *Switch, ns, name string, addr netip.Prefix, pc PortConfig) {
	t.Helper()
	tap, err := nic.OpenTAP(netnstest.UniqueName("snlt"), nic.TAPOptions{})
	netnstest.SkipIfNoTAP(t, err)
	netnstest.Run(t, "ip", "link", "set", tap.Name(), "netns", ns)
	netnstest.In(t, ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
	netnstest.In(t, ns, "ip", "addr", "add", addr.String(), "dev", tap.Name())
	netnstest.SetUpAndWait(t, ns, "lo", tap.Name())
	pc.Name = name
	if err := s.Attach(tap, pc); err != nil {
		tap.Close()
		t.Fatal(err)
	}
}

// TestKernelNamespaces: two network namespaces, each attached by its own
// TAP port, ping each other and move TCP data through the switch (iperf3);
// a third, spoofing namespace is refused.
func TestKernelNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("kernel test: not in -short")
	}
	nsA, nsB := netnstest.NewNetns(t, "sn-lan-"), netnstest.NewNetns(t, "sn-lan-")
	s := New(Options{})
	defer s.Close()
	ipA, ipB := netip.MustParsePrefix("10.77.0.1/24"), netip.MustParsePrefix("10.77.0.2/24")
	tapInNetns(t, s, nsA, "a", ipA, pc("", "t"))
	tapInNetns(t, s, nsB, "b", ipB, PortConfig{Tenant: "t", IPs: []netip.Addr{ipB.Addr()}})

	out, err := exec.Command("ip", "netns", "exec", nsA, "ping", "-c", "3", "-i", "0.2", "-W", "2", ipB.Addr().String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ping through the switch: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "3 received") {
		t.Fatalf("ping: %s", out)
	}
	sa, _ := s.Port("a")
	sb, _ := s.Port("b")
	if sa.Forwarded() < 4 || sb.Forwarded() < 4 { // ARP + 3 echoes each way
		t.Errorf("forwarded a %d b %d; want at least 4 each", sa.Forwarded(), sb.Forwarded())
	}

	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Log("iperf3 missing (scripts/deps.sh installs it): TCP checked with ping only")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := exec.CommandContext(ctx, "ip", "netns", "exec", nsB, "iperf3", "-s", "-1", "--forceflush", "-B", ipB.Addr().String(), "-p", "5201")
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.Contains(sc.Text(), "Server listening") {
	}
	go func() {
		for sc.Scan() {
		}
	}()
	cli := exec.CommandContext(ctx, "ip", "netns", "exec", nsA, "iperf3", "-c", ipB.Addr().String(), "-p", "5201", "-t", "1", "-J")
	js, err := cli.Output()
	if err != nil {
		t.Fatalf("iperf3 client: %v\n%s", err, js)
	}
	srv.Wait()
	var res struct {
		End struct {
			SumReceived struct {
				Bytes         float64 `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(js, &res); err != nil {
		t.Fatalf("iperf3 JSON: %v", err)
	}
	if res.End.SumReceived.Bytes < 1<<20 {
		t.Errorf("iperf3 moved %v bytes; want at least 1 MiB", res.End.SumReceived.Bytes)
	}
	t.Logf("kernel TCP through the switch: %.0f MB in 1 s, %.2f Gbit/s", res.End.SumReceived.Bytes/1e6, res.End.SumReceived.BitsPerSecond/1e9)

	// A namespace claiming B's address on a port locked to another IP is
	// refused: its ARP never reaches anyone.
	nsC := netnstest.NewNetns(t, "sn-lan-")
	ipC := netip.MustParsePrefix("10.77.0.3/24")
	tapInNetns(t, s, nsC, "c", ipC, PortConfig{Tenant: "t", IPs: []netip.Addr{netip.MustParseAddr("10.77.0.9")}})
	out, err = exec.Command("ip", "netns", "exec", nsC, "ping", "-c", "1", "-W", "1", ipA.Addr().String()).CombinedOutput()
	if err == nil {
		t.Fatalf("ping from a spoofing port succeeded:\n%s", out)
	}
	if sc, _ := s.Port("c"); sc.RxDrops[ReasonSpoofedIP] == 0 || sc.Forwarded() != 0 {
		t.Errorf("port c: spoofed_ip %d forwarded %d; want > 0, 0", sc.RxDrops[ReasonSpoofedIP], sc.Forwarded())
	}
}
