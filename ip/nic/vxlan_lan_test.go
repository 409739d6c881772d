package nic_test

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"spacenet/internal/netnstest"
	"spacenet/ip/lan"
	"spacenet/ip/netstack"
	"spacenet/ip/nic"
)

// lanWithStack is a LAN switch with a netstack (MAC 02:00:00:00:77:01,
// address addr/24) on an in-process port of tenant t.
func lanWithStack(t *testing.T, addr netip.Addr, mac byte) (*lan.Switch, *netstack.Netstack) {
	t.Helper()
	sw := lan.New(lan.Options{})
	t.Cleanup(func() { sw.Close() })
	m, err := sw.AttachMem(lan.PortConfig{Name: "stack", Tenant: "t", MTU: nic.DefaultVXLANMTU, QueueDepth: 1024})
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
	sw, _ := lanWithStack(t, netip.MustParseAddr("192.168.77.1"), 1)
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
