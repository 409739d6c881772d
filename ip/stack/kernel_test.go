package stack

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"spacenet/internal/netnstest"
	"spacenet/internal/tcppeer"
	"spacenet/ip/lan"
	"spacenet/ip/lan/fault"
	"spacenet/ip/nic"
	"spacenet/ip/tcp"
	"spacenet/ip/tcp/tcptest"
)

// The kernel tests: our stack on a TAP whose netdev lives in a fresh
// network namespace, and the Linux kernel's TCP there (this test binary,
// re-executed inside the namespace as a peer). Each connection carries
// size bytes each way at once; both sides hash what they receive.

// peerEnv makes this test binary a kernel TCP peer (see TestMain): its
// value is package tcppeer's arguments, e.g. "listen ADDR SIZE".
const peerEnv = "SPACENET_STACK_PEER"

// kernelSide is one test network.
type kernelSide struct {
	ns       string
	ifname   string
	kernel4  netip.Addr
	kernel6  netip.Addr
	our4     netip.Prefix
	our6     netip.Prefix
	stack    *Stack
	tap      *nic.TAP
	nextPort uint16
}

func newKernelSide(t *testing.T, net byte, wrap func(nic.NIC) nic.NIC) *kernelSide {
	return newKernelSideMTU(t, net, 0, wrap)
}

// newKernelSideMTU is newKernelSide with the TAP's MTU (0: 1500).
func newKernelSideMTU(t *testing.T, net byte, mtu int, wrap func(nic.NIC) nic.NIC) *kernelSide {
	t.Helper()
	ns := netnstest.NewNetns(t, "sn-st-")
	tap, err := nic.OpenTAP(netnstest.UniqueName("sntc"), nic.TAPOptions{MTU: mtu})
	netnstest.SkipIfNoTAP(t, err)
	k := &kernelSide{ns: ns, ifname: tap.Name(), tap: tap, nextPort: 5002,
		kernel4: netip.AddrFrom4([4]byte{10, 234, net, 1}),
		our4:    netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 234, net, 2}), 24),
		kernel6: netip.AddrFrom16([16]byte{0xfd, 0x53, 0xef, net, 15: 1}),
		our6:    netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0x53, 0xef, net, 15: 2}), 64),
	}
	netnstest.Run(t, "ip", "link", "set", tap.Name(), "netns", ns)
	netnstest.In(t, ns, "sysctl", "-qw", "net.ipv6.conf."+k.ifname+".accept_dad=0")
	netnstest.Run(t, "ip", "-n", ns, "addr", "add", k.kernel4.String()+"/24", "dev", k.ifname)
	netnstest.Run(t, "ip", "-n", ns, "addr", "add", k.kernel6.String()+"/64", "dev", k.ifname, "nodad")
	netnstest.SetUpAndWait(t, ns, k.ifname, "lo")
	c := Config{MAC: macA, IPv4: k.our4, IPv6: k.our6, Hold: 4,
		TCP: tcp.Config{Conns: 8, MSL: int64(50 * time.Millisecond)}}
	var n nic.NIC = tap
	if wrap != nil {
		n = wrap(tap)
	}
	s, err := New(n, c)
	if err != nil {
		t.Fatal(err)
	}
	k.stack = s
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return k
}

// peerTimeout bounds a kernel transfer: the peer's -deadline and our
// side's wait.
const peerTimeout = 120 * time.Second

// startPeer runs the kernel peer (package tcppeer: "listen", "dial" or
// "echo", with -deadline peerTimeout) in the namespace; for "listen" and
// "echo" it returns once the peer listens. When t ends the peer is
// killed if still running, and waited for.
func (k *kernelSide) startPeer(t *testing.T, mode string, addr netip.AddrPort, size int64) <-chan tcppeer.Result {
	t.Helper()
	spec := fmt.Sprintf("-deadline=%v %s %s %d", peerTimeout, mode, addr, size)
	if mode == "echo" {
		spec = fmt.Sprintf("-deadline=%v %s %s", peerTimeout, mode, addr)
	}
	cmd := exec.Command("ip", "netns", "exec", k.ns, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), peerEnv+"="+spec)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// One reader for all the peer prints: its first line, then the rest
	// and its exit.
	first := make(chan string, 1)
	res := make(chan tcppeer.Result, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReader(out)
		l, _ := r.ReadString('\n')
		first <- l
		rest, _ := io.ReadAll(r)
		cmd.Wait()
		res <- tcppeer.Parse(l + string(rest))
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() // an error once it has exited
		<-done
	})
	if mode == "listen" || mode == "echo" {
		timeout := time.NewTimer(20 * time.Second)
		defer timeout.Stop()
		select {
		case l := <-first:
			if l != "listening\n" {
				select {
				case r := <-res:
					t.Fatalf("peer did not listen:\n%s", r.Output)
				case <-timeout.C:
					t.Fatalf("peer did not listen: %q", l)
				}
			}
		case <-timeout.C:
			t.Fatal("peer did not listen")
		}
	}
	return res
}

// TestKernelPeerCleanup: a test that ends while its kernel peer still
// waits (here: nobody connects to a listening peer) leaves no peer
// behind: by the end of the test the peer has been killed and its
// result read.
func TestKernelPeerCleanup(t *testing.T) {
	k := &kernelSide{ns: netnstest.NewNetns(t, "sn-pc-")}
	netnstest.SetUpAndWait(t, k.ns, "lo")
	var res <-chan tcppeer.Result
	t.Run("abandoned", func(t *testing.T) {
		res = k.startPeer(t, "listen", netip.MustParseAddrPort("127.0.0.1:5001"), 5)
	})
	select {
	case r := <-res:
		if r.Received != 0 || r.Sum != "" {
			t.Errorf("the abandoned peer reports a transfer: %+v", r)
		}
	default:
		t.Error("the peer still runs after its test")
	}
}

// kernelStream runs one connection between our stack and the kernel,
// opened by us (ourClient) or by the kernel, size bytes each way.
func kernelStream(t *testing.T, k *kernelSide, v6, ourClient bool, size int64) (*tcptest.StreamApp, tcppeer.Result, time.Duration) {
	t.Helper()
	app := tcptest.NewStreamApp(size, 1<<20)
	kaddr, our := k.kernel4, k.our4.Addr()
	if v6 {
		kaddr, our = k.kernel6, k.our6.Addr()
	}
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	var res <-chan tcppeer.Result
	start := time.Now()
	if ourClient {
		res = k.startPeer(t, "listen", netip.AddrPortFrom(kaddr, 5001), size)
		start = time.Now()
		var err error
		if derr := k.stack.Do(ctx, func() {
			var c *tcp.Conn
			if c, err = k.stack.Dial(41000, netip.AddrPortFrom(kaddr, 5001), app.App()); err == nil {
				c.Push(int(size))
			}
		}); derr != nil || err != nil {
			t.Fatal(derr, err)
		}
	} else {
		var err error
		port := k.nextPort
		k.nextPort++
		if derr := k.stack.Do(ctx, func() {
			err = k.stack.Table().Listen(tcp.Listener{Port: port, Quota: 2, Accept: func(l, r netip.AddrPort) (tcp.App, bool) {
				return app.App(), true
			}})
		}); derr != nil || err != nil {
			t.Fatal(derr, err)
		}
		res = k.startPeer(t, "dial", netip.AddrPortFrom(our, port), size)
	}
	var r tcppeer.Result
	select {
	case r = <-res:
	case <-ctx.Done():
		t.Fatalf("kernel peer did not finish: %+v", k.stack.Stats())
	}
	select {
	case <-app.Done:
	case <-ctx.Done():
		t.Fatalf("our side did not finish: %+v", k.stack.Stats())
	}
	el := time.Since(start)
	want := streamSum(size)
	if r.Received != size || r.Sum != want {
		t.Errorf("kernel received %d bytes, sum %s; want %d, %s\n%s", r.Received, r.Sum, size, want, r.Output)
	}
	if app.Err != nil || app.Consumed != size || app.Sum() != want {
		t.Errorf("we received %d bytes (err %v), sum %s; want %d, %s", app.Consumed, app.Err, app.Sum(), size, want)
	}
	return app, r, el
}

// kernelSize is the bytes each way of the kernel transfers: 100 MiB, 8
// under the race detector (which slows the stack tenfold).
var kernelSize = func() int64 {
	if raceEnabled {
		return 8 << 20
	}
	return 100 << 20
}()

func TestKernelTCP(t *testing.T) {
	k := newKernelSide(t, 1, nil)
	// The answering layer: the kernel resolves us and pings us.
	if _, err := exec.LookPath("ping"); err == nil {
		for _, a := range []netip.Addr{k.our4.Addr(), k.our6.Addr()} {
			out := netnstest.In(t, k.ns, "ping", "-c", "2", "-i", "0.2", "-W", "2", a.String())
			if !strings.Contains(out, "2 packets transmitted, 2 received") {
				t.Errorf("ping %v: %s", a, out)
			}
		}
	}
	for _, v6 := range []bool{false, true} {
		for _, ourClient := range []bool{true, false} {
			name := fmt.Sprintf("v6=%v/ourClient=%v", v6, ourClient)
			t.Run(name, func(t *testing.T) {
				app, r, el := kernelStream(t, k, v6, ourClient, kernelSize)
				t.Logf("%d MiB each way in %v: %.0f MB/s each way; ours %+v", kernelSize>>20, el.Round(time.Millisecond),
					float64(kernelSize)/el.Seconds()/1e6, app.Info)
				// The kernel's view: the options we negotiated
				// (TCP_INFO), and our window scale in ss.
				if r.Options&7 != 7 {
					t.Errorf("kernel's tcpi_options = %#x, want timestamps, SACK and window scaling (7)", r.Options)
				}
				if r.SS.SndScale != 7 {
					t.Errorf("ss -tino does not show our window scale 7:\n%s", r.Output)
				}
				t.Logf("kernel: %s", r.SS.Line)
			})
		}
	}
	t.Run("net.Conn", func(t *testing.T) {
		// The adapter against the kernel: DialConn, the stream both ways.
		size := kernelSize / 4
		res := k.startPeer(t, "listen", netip.AddrPortFrom(k.kernel4, 5050), size)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, err := k.stack.DialConn(ctx, 41050, netip.AddrPortFrom(k.kernel4, 5050), ConnConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		n, sum, err := duplexStream(c, size)
		r := <-res
		want := streamSum(size)
		if err != nil || n != size || sum != want || r.Received != size || r.Sum != want {
			t.Errorf("we read %d (%v), the kernel %d; sums match: ours %v, kernel's %v", n, err, r.Received,
				sum == want, r.Sum == want)
		}
		t.Logf("net.Conn: %d MiB each way in %v", size>>20, time.Since(start).Round(time.Millisecond))
	})
	t.Logf("stack %+v", k.stack.Stats())
}

// recvLoss drops received frames at random, and swaps neighbours in a
// batch at random (package fault covers only the Send path): the
// kernel's data is lost and reordered on its way to us.
type recvLoss struct {
	*fault.NIC
	rng  *rand.Rand
	p    float64
	lost atomic.Uint64
	swap atomic.Uint64
}

func (r *recvLoss) Recv(bufs [][]byte, sizes []int) (int, error) {
	for {
		n, err := r.NIC.Recv(bufs, sizes)
		k := 0
		for i := 0; i < n; i++ {
			if r.rng.Float64() < r.p {
				r.lost.Add(1)
				continue
			}
			if k != i {
				sizes[k] = copy(bufs[k], bufs[i][:sizes[i]])
			}
			k++
		}
		for i := 0; i+1 < k; i++ {
			if r.rng.Float64() < 2*r.p {
				bufs[i], bufs[i+1] = bufs[i+1], bufs[i]
				sizes[i], sizes[i+1] = sizes[i+1], sizes[i]
				r.swap.Add(1)
				i++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// TestKernelTCPJumbo is TestKernelTCP's IPv4 transfer at MTU 9000 (MSS
// 8960), our client.
func TestKernelTCPJumbo(t *testing.T) {
	k := newKernelSideMTU(t, 5, 9000, nil)
	app, r, el := kernelStream(t, k, false, true, kernelSize)
	t.Logf("MTU 9000: %d MiB each way in %v: %.0f MB/s each way; ours %+v", kernelSize>>20, el.Round(time.Millisecond),
		float64(kernelSize)/el.Seconds()/1e6, app.Info)
	if app.Info.SndMSS != 8960-12 || r.Options&7 != 7 {
		t.Errorf("send MSS %d (want 8948: 8960 less timestamps), kernel options %#x", app.Info.SndMSS, r.Options)
	}
}

// TestKernelTCPFaults injects faults both ways: package fault on what we
// send (loss, duplication, 1 ms delay; not its reordering, which holds a frame until
// the next one is sent, a stall of one RTO whenever that frame is the
// last of a flight), random loss and reordering on what we receive,
// and the kernel's own netem on its side where the kernel has it. Both
// streams still arrive byte-exact, and both sides count retransmissions.
func TestKernelTCPFaults(t *testing.T) {
	var ours *recvLoss
	k := newKernelSide(t, 2, func(n nic.NIC) nic.NIC {
		ours = &recvLoss{NIC: fault.Wrap(n, fault.Config{Loss: 0.01, Duplicate: 0.01, Delay: time.Millisecond}, 9293),
			rng: rand.New(rand.NewPCG(9293, 1)), p: 0.01}
		return ours
	})
	out, err := exec.Command("ip", "netns", "exec", k.ns, "tc", "qdisc", "add", "dev", k.ifname, "root", "netem",
		"loss", "1%", "duplicate", "1%", "delay", "1ms", "reorder", "5%").CombinedOutput()
	netem := err == nil
	if !netem {
		// CONFIG_NET_SCH_NETEM is not in every kernel (not in this
		// machine's): the faults on our side remain.
		t.Logf("no netem on the kernel side: tc: %v: %s", err, bytes.TrimSpace(out))
	}
	size := kernelSize / 6
	for _, ourClient := range []bool{true, false} {
		t.Run(fmt.Sprintf("ourClient=%v", ourClient), func(t *testing.T) {
			app, r, el := kernelStream(t, k, false, ourClient, size)
			t.Logf("%d MiB each way in %v: %.1f MB/s each way; kernel retransmitted %d by halfway; ours %+v",
				size>>20, el.Round(time.Millisecond), float64(size)/el.Seconds()/1e6, r.Retrans, app.Info)
			t.Logf("kernel: %s", r.SS.Line)
			t.Logf("we sent all in %v, received all in %v", app.AllAckedAfter, app.FINAfter)
			if app.Info.Retransmits == 0 {
				t.Errorf("we retransmitted nothing through 1%% loss: %+v", app.Info)
			}
			if r.Retrans == 0 {
				t.Errorf("the kernel retransmitted nothing through 1%% loss by halfway")
			}
		})
	}
	st := k.stack.Stats()
	t.Logf("stack %+v; fault on send %+v; lost on receive %d, swapped %d", st, ours.NIC.Stats(), ours.lost.Load(), ours.swap.Load())
	if st.TCP.Retransmits == 0 || ours.NIC.Stats().Lost == 0 || ours.lost.Load() == 0 {
		t.Errorf("retransmissions %d, frames lost sending %d, receiving %d", st.TCP.Retransmits, ours.NIC.Stats().Lost, ours.lost.Load())
	}
	if netem {
		t.Logf("kernel's netem: %s", netnstest.In(t, k.ns, "tc", "-s", "qdisc", "show", "dev", k.ifname))
	}
}

// TestKernelTCPOverLAN: the kernel's TAP and our stack on two ports of
// the virtual LAN (package lan), the stream both ways, both opens.
func TestKernelTCPOverLAN(t *testing.T) {
	sw := lan.New(lan.Options{})
	t.Cleanup(func() { sw.Close() })
	k := newKernelSide(t, 6, func(tap nic.NIC) nic.NIC {
		if err := sw.Attach(tap, lan.PortConfig{Name: "kernel", Tenant: "processor"}); err != nil {
			t.Fatal(err)
		}
		ours, err := sw.AttachPipe("ours", "camera")
		if err != nil {
			t.Fatal(err)
		}
		return ours
	})
	for _, v6 := range []bool{false, true} {
		for _, ourClient := range []bool{true, false} {
			t.Run(fmt.Sprintf("v6=%v/ourClient=%v", v6, ourClient), func(t *testing.T) {
				app, r, el := kernelStream(t, k, v6, ourClient, kernelSize)
				t.Logf("over the LAN: %d MiB each way in %v: %.0f MB/s each way; kernel retransmitted %d by halfway; ours %d",
					kernelSize>>20, el.Round(time.Millisecond), float64(kernelSize)/el.Seconds()/1e6, r.Retrans, app.Info.Retransmits)
			})
		}
	}
	for _, name := range []string{"kernel", "ours"} {
		st, _ := sw.Port(name)
		t.Logf("switch port %s: %+v", name, st)
	}
}
