package stackbench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"spacenet/internal/checkstream"
	"spacenet/internal/netnsdo"
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
	// The pipe cannot carry the kernel: asked for by Pairings, it is named
	// in Skipped, once per MTU; anything else skipped is the kernel
	// refusing us.
	var onPipe, refused []string
	for _, s := range rep.Skipped {
		if strings.HasPrefix(s, "pipe ") && strings.Contains(s, errNoKernel.Error()) {
			onPipe = append(onPipe, s)
		} else {
			refused = append(refused, s)
		}
	}
	if len(refused) > 0 {
		t.Skipf("the kernel refused (not root?): %v", refused)
	}
	if len(onPipe) != 2 {
		t.Errorf("skipped %q, want kernel-kernel named on the pipe at both MTUs", rep.Skipped)
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
		if _, _, err := throughput(ctx, p, 5101, size, checkstream.Sum(size)); err != nil {
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

// TestTAPMediumReady: on a fresh TAP medium the second kernel's first
// connection to the first completes without retransmitting its SYN (the
// veth's bridge port is forwarding and its far end up when kernel
// returns), and so does one after a user-space pair's TAP has joined
// the bridge and left: the bridge keeps its own address (bridgeMAC). On
// a bridge without one, the TAP's lower address became the bridge's, the
// second kernel learnt it, and its next SYN after the TAP had gone was
// lost (resent after the kernel's 1 s initial RTO). Skipped without root.
func TestTAPMediumReady(t *testing.T) {
	m, err := newTAPMedium(1500)
	if err != nil {
		if refused(err) {
			t.Skipf("the kernel refused (not root?): %v", err)
		}
		t.Fatal(err)
	}
	defer m.close()
	serverNS, err := m.kernel(1)
	if err != nil {
		t.Fatal(err)
	}
	clientNS, err := m.kernel(0)
	if err != nil {
		t.Fatal(err)
	}
	client, server := kernelPeer(clientNS, kernelClientAddr), kernelPeer(serverNS, kernelAddr)
	l, err := server.listen(context.Background(), 7001)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bridgeAddr := func() string {
		t.Helper()
		var mac string
		if err := netnsdo.Do(m.ns, func() error {
			ifi, err := net.InterfaceByName(m.br)
			if err == nil {
				mac = ifi.HardwareAddr.String()
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return mac
	}
	// dial connects the second kernel to the first and fails the test if
	// the client socket retransmitted anything (TCP_INFO), SYNs included.
	dial := func(step string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, err := client.dial(ctx, netip.AddrPortFrom(kernelAddr, 7001))
		if err != nil {
			t.Fatalf("%s: dial: %v", step, err)
		}
		defer c.Close()
		raw, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var info *unix.TCPInfo
		var ierr error
		if err := raw.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil || ierr != nil {
			t.Fatal(err, ierr)
		}
		if info.Total_retrans != 0 {
			t.Errorf("%s: the client retransmitted %d times (its SYN was lost)", step, info.Total_retrans)
		}
		a, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
	}
	dial("first connection on a fresh medium")
	if got := bridgeAddr(); got != bridgeMAC {
		t.Errorf("bridge address %s, want %s", got, bridgeMAC)
	}
	// A TAP with the lowest unicast address there is joins the bridge;
	// the second kernel forgets its neighbours and connects (on a bridge
	// without an address of its own, it learns the TAP's); the TAP goes.
	tap, err := m.port(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tap.Close() }) // on a failure below; closing twice is harmless
	if err := ipCmd("-n", m.ns, "link", "set", tap.Name(), "address", "02:00:00:00:00:01"); err != nil {
		t.Fatal(err)
	}
	if got := bridgeAddr(); got != bridgeMAC {
		t.Errorf("with a port of a lower address, bridge address %s, want %s", got, bridgeMAC)
	}
	if err := ipCmd("-n", clientNS, "neigh", "flush", "all"); err != nil {
		t.Fatal(err)
	}
	dial("with the TAP on the bridge")
	tap.Close()
	dial("after the TAP left")
	if got := bridgeAddr(); got != bridgeMAC {
		t.Errorf("after the port left, bridge address %s, want %s", got, bridgeMAC)
	}
}
