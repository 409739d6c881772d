package nic_test

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"spacenet/internal/netnstest"
	"spacenet/ip/lan"
	"spacenet/ip/netstack"
	"spacenet/ip/nic"
)

// lanWithStack is a LAN switch with a netstack (MAC 02:00:00:00:77:mac,
// address addr/24) on an in-process port of tenant t.
func lanWithStack(t *testing.T, addr netip.Addr, mac byte, opts lan.Options) (*lan.Switch, *netstack.Netstack) {
	return lanWithTenant(t, "t", addr, mac, opts)
}

// lanWithTenant is lanWithStack with the netstack's port in tenant.
func lanWithTenant(t *testing.T, tenant string, addr netip.Addr, mac byte, opts lan.Options) (*lan.Switch, *netstack.Netstack) {
	t.Helper()
	sw := lan.New(opts)
	t.Cleanup(func() { sw.Close() })
	m, err := sw.AttachMem(lan.PortConfig{Name: "stack", Tenant: tenant, MTU: nic.DefaultVXLANMTU, QueueDepth: 1024})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := netstack.New(netstack.Config{MAC: [6]byte{2, 0, 0, 0, 0x77, mac}}, netstack.NICDevice(m, false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	ns.Start()
	if _, err := ns.Request(context.Background(), netstack.SetAddrs{Addrs: []netip.Prefix{netip.PrefixFrom(addr, 24)}}); err != nil {
		t.Fatal(err)
	}
	return sw, ns
}

// TestVXLANKernelPing: the Linux kernel's vxlan device (VNI 42) in one
// namespace pings a netstack on our LAN switch, whose VXLAN port (a VTEP
// bound in another namespace, the two joined by a veth) carries the
// frames both ways.
func TestVXLANKernelPing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("ping missing: run scripts/deps.sh")
	}
	ours := netnstest.NewNetns(t, "vxo")
	kern := netnstest.NewNetns(t, "vxk")
	netnstest.In(t, ours, "ip", "link", "add", "uv", "type", "veth", "peer", "name", "kv", "netns", kern)
	netnstest.In(t, ours, "ip", "addr", "add", "10.88.0.1/24", "dev", "uv")
	netnstest.In(t, kern, "ip", "addr", "add", "10.88.0.2/24", "dev", "kv")
	netnstest.In(t, kern, "ip", "link", "set", "kv", "up")
	netnstest.SetUpAndWait(t, ours, "uv")
	netnstest.SetUpAndWait(t, kern, "kv")
	netnstest.In(t, kern, "ip", "link", "add", "vx0", "type", "vxlan", "id", "42", "remote", "10.88.0.1",
		"local", "10.88.0.2", "dstport", "4789", "dev", "kv")
	netnstest.In(t, kern, "ip", "addr", "add", "192.168.77.2/24", "dev", "vx0")
	netnstest.SetUpAndWait(t, kern, "vx0")

	var vx *nic.VXLAN
	if err := netnstest.Do(ours, func() error {
		var err error
		vx, err = nic.OpenVXLAN(nic.VXLANConfig{
			Local: netip.MustParseAddrPort("10.88.0.1:4789"), Peer: netip.MustParseAddrPort("10.88.0.2:4789"), VNI: 42,
		})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sw, _ := lanWithStack(t, netip.MustParseAddr("192.168.77.1"), 1, lan.Options{})
	// Attach gives the NIC to the switch, which closes it.
	if err := sw.Attach(vx, lan.PortConfig{Name: "vxlan42", Tenant: "t", NoSticky: true}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "netns", "exec", kern, "ping", "-c", "3", "-i", "0.2", "-W", "5", "192.168.77.1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "3 received") {
		t.Fatalf("kernel vxlan ping through our VXLAN port: %v\n%s\nport: %+v", err, out, vx.Stats())
	}
	st := vx.Stats()
	// ARP request and 3 echo requests in, ARP reply and 3 echo replies
	// out, at least (the kernel may ARP again).
	if st.RxFrames < 4 || st.TxFrames < 4 || st.RxFraming != 0 || vx.VXLANStats() != (nic.VXLANStats{}) {
		t.Fatalf("VXLAN port: %+v %+v", st, vx.VXLANStats())
	}
	t.Logf("ping: %s; port %+v", lastLine(out), st)
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// openIn opens a VXLAN NIC bound in namespace ns.
func openIn(t *testing.T, ns string, cfg nic.VXLANConfig) *nic.VXLAN {
	t.Helper()
	var vx *nic.VXLAN
	if err := netnstest.Do(ns, func() error {
		var err error
		vx, err = nic.OpenVXLAN(cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return vx
}

// TestVXLANJoinsSwitches: two LAN switches ("hosts" at 127.0.0.1 and
// 127.0.0.2 of one namespace's loopback), each with a netstack, joined by
// a VXLAN port each (VNI 42): 4 MiB of TCP from one netstack to the other
// arrive byte-exact. A third VTEP that sends with VNI 43 reaches nothing:
// its frames are counted WrongVNI, not delivered.
func TestVXLANJoinsSwitches(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	ns := netnstest.NewNetns(t, "vxj")
	netnstest.SetUpAndWait(t, ns, "lo")
	a := openIn(t, ns, nic.VXLANConfig{Local: netip.MustParseAddrPort("127.0.0.1:4789"), Peer: netip.MustParseAddrPort("127.0.0.2:4789"), VNI: 42})
	b := openIn(t, ns, nic.VXLANConfig{Local: netip.MustParseAddrPort("127.0.0.2:4789"), Peer: netip.MustParseAddrPort("127.0.0.1:4789"), VNI: 42})
	// A's switch tells when the marker frame (EtherType 0x88B5) comes in.
	// It also tells whether a frame from VNI 43's host got in.
	marked := make(chan struct{}, 1)
	var leaked atomic.Bool
	swA, stackA := lanWithStack(t, netip.MustParseAddr("192.168.78.1"), 1, lan.Options{Monitor: func(port string, dir lan.Direction, f []byte) {
		if dir == lan.In && len(f) >= 14 && f[12] == 0x88 && f[13] == 0xb5 {
			marked <- struct{}{}
		}
		if len(f) >= 14 && f[10] == 0x43 {
			leaked.Store(true)
		}
	}})
	swB, stackB := lanWithStack(t, netip.MustParseAddr("192.168.78.2"), 2, lan.Options{})
	for _, x := range []struct {
		sw *lan.Switch
		vx *nic.VXLAN
	}{{swA, a}, {swB, b}} {
		if err := x.sw.Attach(x.vx, lan.PortConfig{Name: "vxlan42", Tenant: "t", NoSticky: true}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := stackB.ListenTCP(netip.MustParseAddrPort("192.168.78.2:5001"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const size = 4 << 20
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		data, _ := io.ReadAll(c)
		got <- data
	}()
	c, err := stackA.DialTCP(ctx, netip.AddrPort{}, netip.MustParseAddrPort("192.168.78.2:5001"))
	if err != nil {
		t.Fatalf("dial across VXLAN: %v; A %+v B %+v", err, a.Stats(), b.Stats())
	}
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i * 31)
	}
	start := time.Now()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.Close()
	data := <-got
	el := time.Since(start)
	if !bytes.Equal(data, msg) {
		t.Fatalf("received %d bytes, want %d byte-exact", len(data), size)
	}
	t.Logf("4 MiB TCP across two LAN switches joined by VXLAN: %v (%.0f Mbit/s); A %+v", el, float64(size*8)/el.Seconds()/1e6, a.Stats())

	// A VTEP of another tenant group (VNI 43) at B's address: A refuses
	// its frames.
	other := openIn(t, ns, nic.VXLANConfig{Local: netip.MustParseAddrPort("127.0.0.2:4790"), Peer: netip.MustParseAddrPort("127.0.0.1:4789"), VNI: 43})
	defer other.Close()
	arp := make([]byte, 42) // broadcast ARP request for 192.168.78.1 from VNI 43
	copy(arp, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0x43, 1, 0x08, 0x06})
	for range 3 {
		if _, err := other.Send([][]byte{arp}); err != nil {
			t.Fatal(err)
		}
	}
	// A's reader takes datagrams in order: a frame with VNI 42 from B's
	// address (another port of it: the kernel's vxlan sends from any
	// source port) after the three proves they were read.
	sameGroup := openIn(t, ns, nic.VXLANConfig{Local: netip.MustParseAddrPort("127.0.0.2:4791"), Peer: netip.MustParseAddrPort("127.0.0.1:4789"), VNI: 42})
	defer sameGroup.Close()
	marker := make([]byte, 60)
	copy(marker, []byte{2, 0, 0, 0, 0x77, 1, 2, 0, 0, 0, 0x77, 9, 0x88, 0xb5})
	if _, err := sameGroup.Send([][]byte{marker}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-marked:
	case <-time.After(10 * time.Second):
		t.Fatal("the marker from B did not arrive")
	}
	if got := a.VXLANStats().WrongVNI; got != 3 || leaked.Load() {
		t.Fatalf("A: WrongVNI %d (want 3), a frame of VNI 43 delivered: %v", got, leaked.Load())
	}
}

// TestVXLANPolicyApart: a pair the policy forbids stays apart across hosts.
// A VXLAN port stands for the tenant group behind it (one VNI per group):
// on host A the port towards B's spaceos is in tenant spaceos, on B the
// port towards A's camera in tenant camera. With camera and spaceos unable
// to reach each other (the LAN's Reach, as the APID policy's can_send_to),
// camera@A cannot reach spaceos@B: its ARP never leaves A (the VXLAN port
// sends nothing, A's switch counts the flood with nowhere to go), and the
// TCP connection fails.
func TestVXLANPolicyApart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	ns := netnstest.NewNetns(t, "vxp")
	netnstest.SetUpAndWait(t, ns, "lo")
	reach := lan.NewReach(map[string][]string{"camera": {"processor"}, "processor": {"camera"}, "spaceos": nil})
	a := openIn(t, ns, nic.VXLANConfig{Local: netip.MustParseAddrPort("127.0.0.1:4789"), Peer: netip.MustParseAddrPort("127.0.0.2:4789"), VNI: 44})
	b := openIn(t, ns, nic.VXLANConfig{Local: netip.MustParseAddrPort("127.0.0.2:4789"), Peer: netip.MustParseAddrPort("127.0.0.1:4789"), VNI: 44})
	swA, camera := lanWithTenant(t, "camera", netip.MustParseAddr("192.168.79.1"), 1, lan.Options{Reach: reach})
	swB, spaceos := lanWithTenant(t, "spaceos", netip.MustParseAddr("192.168.79.2"), 2, lan.Options{Reach: reach})
	if err := swA.Attach(a, lan.PortConfig{Name: "to-b", Tenant: "spaceos", NoSticky: true}); err != nil {
		t.Fatal(err)
	}
	if err := swB.Attach(b, lan.PortConfig{Name: "to-a", Tenant: "camera", NoSticky: true}); err != nil {
		t.Fatal(err)
	}
	ln, err := spaceos.ListenTCP(netip.MustParseAddrPort("192.168.79.2:5001"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c, err := camera.DialTCP(ctx, netip.AddrPort{}, netip.MustParseAddrPort("192.168.79.2:5001")); err == nil {
		c.Close()
		t.Fatal("camera@A reached spaceos@B across VXLAN")
	}
	st, _ := swA.Port("stack")
	if a.Stats().TxFrames != 0 || b.Stats().RxFrames != 0 || st.RxDrops[lan.ReasonNoPort]+st.RxDrops[lan.ReasonIsolated] == 0 {
		t.Fatalf("VXLAN A sent %d, B received %d; camera's port drops %v", a.Stats().TxFrames, b.Stats().RxFrames, st.RxDrops)
	}
}
