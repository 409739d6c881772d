package stack

import (
	"context"
	"io"
	"net/netip"
	"testing"
	"time"

	"spacenet/internal/netnstest"
	"spacenet/ip/netstack"
	"spacenet/ip/nic"
)

// TestKernelThroughputVsGVisor runs the same transfer against the kernel
// (kernelSize each way at once, over a TAP in a namespace, MTU 1500, no
// offloads) from our stack and from gVisor's (package netstack), in the
// same run, and logs both throughputs. Both must arrive byte-exact; the
// figures go to docs/PERFORMANCE.md.
func TestKernelThroughputVsGVisor(t *testing.T) {
	size := kernelSize
	k := newKernelSide(t, 3, nil)
	_, _, ours := kernelStream(t, k, false, true, size)

	g := newKernelSide(t, 4, nil)
	// A second TAP for gVisor in g's namespace, with its own addresses.
	tap, err := nic.OpenTAP(netnstest.UniqueName("sngv"), nic.TAPOptions{})
	netnstest.SkipIfNoTAP(t, err)
	netnstest.Run(t, "ip", "link", "set", tap.Name(), "netns", g.ns)
	netnstest.Run(t, "ip", "-n", g.ns, "addr", "add", "10.235.4.1/24", "dev", tap.Name())
	netnstest.SetUpAndWait(t, g.ns, tap.Name())
	ns, err := netstack.New(netstack.Config{MAC: [6]byte{2, 0, 0, 0, 4, 9}}, netstack.NICDevice(tap, false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	ns.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if _, err := ns.Request(ctx, netstack.SetAddrs{Addrs: []netip.Prefix{netip.MustParsePrefix("10.235.4.2/24")}}); err != nil {
		t.Fatal(err)
	}
	kaddr := netip.MustParseAddrPort("10.235.4.1:5009")
	res := g.startPeer(t, "listen", kaddr, size)
	start := time.Now()
	c, err := ns.DialTCP(ctx, netip.AddrPort{}, kaddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, sum, err := duplexStream(c, size)
	if err != nil {
		t.Fatal(err)
	}
	r := <-res
	gv := time.Since(start)
	want := streamSum(size)
	if n != size || sum != want || r.Received != size || r.Sum != want {
		t.Errorf("gVisor: received %d, kernel received %d; sums differ from %s", n, r.Received, want)
	}
	// Round trips: 64-byte requests echoed by the kernel, one at a
	// time, through our net.Conn adapter and through gVisor's Conn.
	const trips = 500
	res = k.startPeer(t, "echo", netip.AddrPortFrom(k.kernel4, 5060), 0)
	oc, err := k.stack.DialConn(ctx, 41060, netip.AddrPortFrom(k.kernel4, 5060), ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ourRTT := pingPong(t, oc, trips)
	oc.Close()
	<-res
	res = g.startPeer(t, "echo", netip.MustParseAddrPort("10.235.4.1:5061"), 0)
	gc, err := ns.DialTCP(ctx, netip.AddrPort{}, netip.MustParseAddrPort("10.235.4.1:5061"))
	if err != nil {
		t.Fatal(err)
	}
	gvRTT := pingPong(t, gc, trips)
	gc.Close()
	<-res
	t.Logf("round trip, 64 bytes echoed by the kernel, mean of %d: ours %v, gVisor %v", trips, ourRTT, gvRTT)
	kk := kernelToKernel(t, size)
	mbs := func(d time.Duration) float64 { return float64(size) / d.Seconds() / 1e6 }
	t.Logf("against the kernel over a TAP, %d MiB each way at once: ours %v (%.0f MB/s each way), gVisor %v (%.0f MB/s each way); kernel to kernel over a veth pair (reference, no TAP): %v (%.0f MB/s each way)",
		size>>20, ours.Round(time.Millisecond), mbs(ours), gv.Round(time.Millisecond), mbs(gv), kk.Round(time.Millisecond), mbs(kk))
}

// pingPong sends 64-byte requests over c and reads each echo before the
// next; it returns the mean round trip.
func pingPong(t *testing.T, c io.ReadWriter, trips int) time.Duration {
	t.Helper()
	req, resp := make([]byte, 64), make([]byte, 64)
	start := time.Now()
	for i := range trips {
		req[0] = byte(i)
		if _, err := c.Write(req); err != nil {
			t.Fatalf("trip %d: %v", i, err)
		}
		if _, err := io.ReadFull(c, resp); err != nil || resp[0] != byte(i) {
			t.Fatalf("trip %d: %v (got %d)", i, err, resp[0])
		}
	}
	return time.Since(start) / time.Duration(trips)
}

// kernelToKernel runs the same duplex transfer between two kernel peers
// in two namespaces joined by a veth pair (MTU 1500, the kernel's
// offloads on): the reference the user-space stacks are measured
// against.
func kernelToKernel(t *testing.T, size int64) time.Duration {
	t.Helper()
	ns1, ns2 := netnstest.NewNetns(t, "sn-kk-"), netnstest.NewNetns(t, "sn-kk-")
	a, b := netnstest.UniqueName("snka"), netnstest.UniqueName("snkb")
	netnstest.Run(t, "ip", "-n", ns1, "link", "add", a, "type", "veth", "peer", "name", b, "netns", ns2)
	netnstest.Run(t, "ip", "-n", ns1, "addr", "add", "10.236.0.1/24", "dev", a)
	netnstest.Run(t, "ip", "-n", ns2, "addr", "add", "10.236.0.2/24", "dev", b)
	netnstest.Run(t, "ip", "-n", ns1, "link", "set", a, "up") // up once its peer is
	netnstest.SetUpAndWait(t, ns1, "lo")
	netnstest.SetUpAndWait(t, ns2, b, "lo")
	netnstest.WaitUp(t, ns1, a)
	server := &kernelSide{ns: ns1}
	client := &kernelSide{ns: ns2}
	start := time.Now()
	rs := server.startPeer(t, "listen", netip.MustParseAddrPort("10.236.0.1:5070"), size)
	rc := client.startPeer(t, "dial", netip.MustParseAddrPort("10.236.0.1:5070"), size)
	r1, r2 := <-rs, <-rc
	el := time.Since(start)
	want := streamSum(size)
	if r1.Sum != want || r2.Sum != want {
		t.Errorf("kernel to kernel: sums differ (%d, %d bytes)", r1.Received, r2.Received)
	}
	return el
}
