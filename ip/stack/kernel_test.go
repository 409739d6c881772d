package stack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"spacenet/internal/checkstream"
	"spacenet/internal/netnstest"
	"spacenet/ip/lan"
	"spacenet/ip/lan/fault"
	"spacenet/ip/nic"
	"spacenet/ip/tcp"
)

// The kernel tests: our stack on a TAP whose netdev lives in a fresh
// network namespace, and the Linux kernel's TCP there (this test binary,
// re-executed inside the namespace as a peer). Each connection carries
// size bytes each way at once; both sides hash what they receive.

// peerEnv makes this test binary a kernel TCP peer (see TestMain):
// "listen ADDR SIZE" or "dial ADDR SIZE".
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

// peerResult is what the kernel peer printed.
type peerResult struct {
	received int64
	sum      string
	ss       string
	options  uint8 // tcpi_options: TCPI_OPT_TIMESTAMPS 1, SACK 2, WSCALE 4
	retrans  int   // tcpi_total_retrans halfway through
}

// startPeer runs the kernel peer in the namespace; for "listen" it
// returns once the peer listens.
func (k *kernelSide) startPeer(t *testing.T, mode string, addr netip.AddrPort, size int64) <-chan peerResult {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", k.ns, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", peerEnv, mode, addr, size))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	res := make(chan peerResult, 1)
	if mode == "listen" || mode == "echo" {
		select {
		case l := <-lines:
			if l != "listening" {
				t.Fatalf("peer: %q", l)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("peer did not listen")
		}
	}
	go func() {
		var r peerResult
		var ss strings.Builder
		for l := range lines {
			if f := strings.Fields(l); len(f) == 3 && f[0] == "tcpinfo" {
				o, _ := strconv.Atoi(f[1])
				r.options = uint8(o)
				r.retrans, _ = strconv.Atoi(f[2])
			} else if len(f) == 4 && f[0] == "received" {
				r.received, _ = strconv.ParseInt(f[1], 10, 64)
				r.sum = f[3]
			} else {
				ss.WriteString(l + "\n")
			}
		}
		cmd.Wait()
		r.ss = ss.String()
		res <- r
	}()
	return res
}

// kernelPeer is the peer's main: it connects or accepts, sends size
// bytes of the stream while it hashes what it receives, prints the
// kernel's view of the connection (ss -tin) and the result.
func kernelPeer(spec string) int {
	f := strings.Fields(spec)
	if len(f) != 3 {
		fmt.Println("bad spec", spec)
		return 2
	}
	size, _ := strconv.ParseInt(f[2], 10, 64)
	var c net.Conn
	var err error
	if f[0] == "echo" {
		return echoPeer(f[1])
	}
	if f[0] == "listen" {
		var l net.Listener
		if l, err = net.Listen("tcp", f[1]); err != nil {
			fmt.Println("listen:", err)
			return 1
		}
		fmt.Println("listening")
		c, err = l.Accept()
		l.Close()
	} else {
		c, err = net.DialTimeout("tcp", f[1], 20*time.Second)
	}
	if err != nil {
		fmt.Println("connect:", err)
		return 1
	}
	c.SetDeadline(time.Now().Add(120 * time.Second))
	werr := make(chan error, 1)
	go func() { werr <- writeStream(c.(*net.TCPConn), size) }()
	// Halfway through, the kernel's view of the connection (ss -tin):
	// the options negotiated, retransmissions.
	n, sum, err := checkstream.Hash(c, size, func() {
		fmt.Print(ssInfo(c))
		fmt.Println(tcpInfo(c))
	})
	if err != nil {
		fmt.Println("read:", err)
	}
	if err := <-werr; err != nil {
		fmt.Println("write:", err)
	}
	fmt.Print(ssInfo(c))
	c.Close()
	fmt.Printf("received %d sha256 %s\n", n, hex.EncodeToString(sum[:]))
	return 0
}

// echoPeer accepts one connection and sends back what it reads until
// EOF.
func echoPeer(addr string) int {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	fmt.Println("listening")
	c, err := l.Accept()
	l.Close()
	if err != nil {
		fmt.Println("accept:", err)
		return 1
	}
	defer c.Close()
	n, err := io.Copy(c, c)
	fmt.Printf("received %d sha256 -\n", n)
	if err != nil {
		fmt.Println("echo:", err)
		return 1
	}
	return 0
}

// tcpInfo returns the kernel's TCP_INFO of c as a line "tcpinfo
// OPTIONS TOTAL_RETRANS".
func tcpInfo(c net.Conn) string {
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err.Error()
	}
	var info *unix.TCPInfo
	raw.Control(func(fd uintptr) { info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("tcpinfo %d %d", info.Options, info.Total_retrans)
}

// writeStream writes the first size bytes of the test stream to c and
// half-closes it.
func writeStream(c interface {
	io.Writer
	CloseWrite() error
}, size int64) error {
	if err := checkstream.Write(c, size); err != nil {
		return err
	}
	return c.CloseWrite()
}

// ssInfo returns ss -tin's lines about c.
func ssInfo(c net.Conn) string {
	dst := c.RemoteAddr().(*net.TCPAddr)
	out, err := exec.Command("ss", "-tin", "dst", netip.AddrPortFrom(netip.MustParseAddr(dst.IP.String()), uint16(dst.Port)).String()).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("ss: %v: %s", err, out)
	}
	return string(out)
}

// kernelStream runs one connection between our stack and the kernel,
// opened by us (ourClient) or by the kernel, size bytes each way.
func kernelStream(t *testing.T, k *kernelSide, v6, ourClient bool, size int64) (*streamApp, peerResult, time.Duration) {
	t.Helper()
	app := newStreamApp(size, 1<<20)
	kaddr, our := k.kernel4, k.our4.Addr()
	if v6 {
		kaddr, our = k.kernel6, k.our6.Addr()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var res <-chan peerResult
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
	var r peerResult
	select {
	case r = <-res:
	case <-ctx.Done():
		t.Fatalf("kernel peer did not finish: %+v", k.stack.Stats())
	}
	select {
	case <-app.done:
	case <-ctx.Done():
		t.Fatalf("our side did not finish: %+v", k.stack.Stats())
	}
	el := time.Since(start)
	want := streamSum(size)
	if r.received != size || r.sum != want {
		t.Errorf("kernel received %d bytes, sum %s; want %d, %s\n%s", r.received, r.sum, size, want, r.ss)
	}
	if app.err != nil || app.consumed != size || app.Sum() != want {
		t.Errorf("we received %d bytes (err %v), sum %s; want %d, %s", app.consumed, app.err, app.Sum(), size, want)
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
					float64(kernelSize)/el.Seconds()/1e6, app.info)
				// The kernel's view: the options we negotiated
				// (TCP_INFO), and our window scale in ss.
				if r.options&7 != 7 {
					t.Errorf("kernel's tcpi_options = %#x, want timestamps, SACK and window scaling (7)", r.options)
				}
				if !strings.Contains(r.ss, "wscale:7,") {
					t.Errorf("ss -tin does not show our window scale 7:\n%s", r.ss)
				}
				t.Logf("kernel: %s", strings.TrimSpace(r.ss))
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
		if err != nil || n != size || sum != want || r.received != size || r.sum != want {
			t.Errorf("we read %d (%v), the kernel %d; sums match: ours %v, kernel's %v", n, err, r.received,
				sum == want, r.sum == want)
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
		float64(kernelSize)/el.Seconds()/1e6, app.info)
	if app.info.SndMSS != 8960-12 || r.options&7 != 7 {
		t.Errorf("send MSS %d (want 8948: 8960 less timestamps), kernel options %#x", app.info.SndMSS, r.options)
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
				size>>20, el.Round(time.Millisecond), float64(size)/el.Seconds()/1e6, r.retrans, app.info)
			t.Logf("kernel: %s", r.ss)
			t.Logf("we sent all in %v, received all in %v", app.sent, app.received)
			if app.info.Retransmits == 0 {
				t.Errorf("we retransmitted nothing through 1%% loss: %+v", app.info)
			}
			if r.retrans == 0 {
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
					kernelSize>>20, el.Round(time.Millisecond), float64(kernelSize)/el.Seconds()/1e6, r.retrans, app.info.Retransmits)
			})
		}
	}
	for _, name := range []string{"kernel", "ours"} {
		st, _ := sw.Port(name)
		t.Logf("switch port %s: %+v", name, st)
	}
}
