package endpoint

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"spacenet/internal/netnstest"
	"spacenet/ip/nic"
)

// The kernel tests: a network namespace made here holds the kernel's side
// of a TAP device, or of a veth pair whose other end carries an AF_PACKET
// socket. The kernel resolves our endpoint by ARP and NDP, pings it (v4 and
// v6) and sends it UDP datagrams from a socket, which our endpoint echoes.

// kernelNet is one test network: the kernel's addresses in ns and ours.
type kernelNet struct {
	ns               string
	ifname           string // the kernel's interface, in ns
	kernel4, kernel6 netip.Addr
	our4, our6       netip.Prefix
}

// configure gives the kernel side its addresses (no DAD), brings it up
// and waits until the kernel can send on it.
func (k *kernelNet) configure(t testing.TB) {
	netnstest.In(t, k.ns, "sysctl", "-qw", "net.ipv6.conf."+k.ifname+".accept_dad=0")
	netnstest.Run(t, "ip", "-n", k.ns, "addr", "add", k.kernel4.String()+"/24", "dev", k.ifname)
	netnstest.Run(t, "ip", "-n", k.ns, "addr", "add", k.kernel6.String()+"/64", "dev", k.ifname, "nodad")
	netnstest.SetUpAndWait(t, k.ns, k.ifname, "lo")
}

// tapNet opens a TAP, moves its netdev into a fresh namespace (the file
// descriptor stays ours) and configures the kernel side.
func tapNet(t testing.TB, net4 byte) (*kernelNet, nic.NIC) {
	ns := netnstest.NewNetns(t, "sn-ep-")
	tap, err := nic.OpenTAP(netnstest.UniqueName("snet"), nic.TAPOptions{})
	netnstest.SkipIfNoTAP(t, err)
	t.Cleanup(func() { tap.Close() })
	k := newKernelNet(ns, tap.Name(), net4)
	netnstest.Run(t, "ip", "link", "set", tap.Name(), "netns", ns)
	k.configure(t)
	return k, tap
}

// vethNet makes a veth pair with one end in a fresh namespace and opens an
// AF_PACKET socket on the end left here.
func vethNet(t testing.TB, net4 byte) (*kernelNet, nic.NIC) {
	ns := netnstest.NewNetns(t, "sn-ep-")
	here, peer := netnstest.NewVeth(t, ns)
	// The host end carries no addresses of the host's.
	netnstest.Run(t, "sysctl", "-qw", "net.ipv6.conf."+here+".disable_ipv6=1")
	netnstest.Run(t, "ip", "link", "set", here, "up")
	k := newKernelNet(ns, peer, net4)
	k.configure(t)
	netnstest.WaitUp(t, "", here) // up before the peer: its qdisc waits for linkwatch
	p, err := nic.OpenPacket(here)
	netnstest.SkipIfRefused(t, err, "AF_PACKET")
	t.Cleanup(func() { p.Close() })
	return k, p
}

func newKernelNet(ns, ifname string, net4 byte) *kernelNet {
	return &kernelNet{
		ns: ns, ifname: ifname,
		kernel4: netip.AddrFrom4([4]byte{10, 233, net4, 1}),
		our4:    netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 233, net4, 2}), 24),
		kernel6: netip.AddrFrom16([16]byte{0xfd, 0x53, 0xee, net4, 15: 1}),
		our6:    netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0x53, 0xee, net4, 15: 2}), 64),
	}
}

func TestKernelTAP(t *testing.T) {
	k, n := tapNet(t, 1)
	kernelConversation(t, k, n)
}

func TestKernelAFPacket(t *testing.T) {
	k, n := vethNet(t, 2)
	kernelConversation(t, k, n)
}

func kernelConversation(t *testing.T, k *kernelNet, n nic.NIC) {
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("ping (iputils-ping) not installed: run scripts/deps.sh")
	}
	e, err := New(n, Config{MAC: usMAC, IPv4: k.our4, IPv6: k.our6, UDP: Echo})
	if err != nil {
		t.Fatal(err)
	}
	stop := runEndpoint(t, e)
	defer stop()

	for _, v := range []struct {
		name string
		args []string
		addr netip.Addr
	}{
		{"ping", []string{"ping", "-c", "3", "-i", "0.2", "-W", "2"}, k.our4.Addr()},
		{"ping -6", []string{"ping", "-6", "-c", "3", "-i", "0.2", "-W", "2"}, k.our6.Addr()},
	} {
		out := netnstest.Run(t, append(append([]string{"ip", "netns", "exec", k.ns}, v.args...), v.addr.String())...)
		if !strings.Contains(out, "3 packets transmitted, 3 received") {
			t.Errorf("%s: %s", v.name, out)
		}
		neigh := netnstest.Run(t, "ip", "-n", k.ns, "neigh", "show", v.addr.String())
		if !strings.Contains(neigh, "lladdr "+usMAC.String()) {
			t.Errorf("%s: ip neigh show %v = %q, want lladdr %v", v.name, v.addr, neigh, usMAC)
		}
	}

	// A kernel UDP socket in the namespace (this test binary, re-executed)
	// sends datagrams and reads the echoes.
	for _, a := range []netip.Addr{k.our4.Addr(), k.our6.Addr()} {
		dst := netip.AddrPortFrom(a, 7).String()
		cmd := exec.Command("ip", "netns", "exec", k.ns, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), udpClientEnv+"="+dst)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "echoed 3/3") {
			t.Errorf("UDP client to %s: %v\n%s", dst, err, out)
		}
	}

	s := e.Stats()
	if s.ARP < 1 || s.NDP < 1 || s.EchoV4 < 3 || s.EchoV6 < 3 || s.UDPAnswered < 6 || s.Refused[Malformed]+s.Refused[BadChecksum] != 0 {
		t.Errorf("Stats = %+v", s)
	}
	t.Logf("%s: %+v", n.Name(), s)
}

// udpClientEnv names the environment variable that makes this test binary
// a UDP client (see TestMain): it sends three datagrams to the address it
// holds and checks each comes back.
const udpClientEnv = "SPACENET_ENDPOINT_UDP_CLIENT"

func udpClient(dst string) int {
	c, err := net.Dial("udp", dst)
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	defer c.Close()
	buf := make([]byte, 2048)
	ok := 0
	for i := 0; i < 3; i++ {
		msg := fmt.Sprintf("datagram %d to %s", i, dst)
		if _, err := c.Write([]byte(msg)); err != nil {
			fmt.Println("write:", err)
			continue
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			fmt.Println("read:", err)
			continue
		}
		if string(buf[:n]) == msg {
			ok++
		}
	}
	fmt.Printf("echoed %d/3\n", ok)
	if ok != 3 {
		return 1
	}
	return 0
}
