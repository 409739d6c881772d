package stackbench

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"

	"spacenet/internal/linkwait"
	"spacenet/ip/lan"
	"spacenet/ip/nic"
)

// Media are the media Run knows, in the order it measures them.
var Media = []string{"pipe", "lan", "tap"}

// kernelAddr is the kernel's address on every medium that has one (the
// server of every pairing with the kernel), kernelClientAddr that of the
// second kernel, in a namespace of its own (the client of kernel-kernel).
var (
	kernelAddr       = netip.MustParseAddr("10.77.0.254")
	kernelClientAddr = netip.MustParseAddr("10.77.0.253")
)

// kernelAddrs are the kernel's addresses by side (0 client, 1 server).
var kernelAddrs = [2]netip.Addr{kernelClientAddr, kernelAddr}

// medium joins user-space stacks (and, where it can, the kernel).
type medium interface {
	// port returns a new NIC for side (0 client, 1 server) of a new pair.
	port(side int) (nic.NIC, error)
	// kernel returns the network namespace where the kernel has
	// kernelAddrs[side] on the medium (the server's, side 1, is shared
	// by every pair; the client's, side 0, is a second namespace, for
	// kernel-kernel), or errNoKernel.
	kernel(side int) (string, error)
	close()
}

var seq atomic.Uint32

// uniqueName is prefix, this process's PID modulo 10^5 and a sequence
// number: short enough for an interface name (at most 15 bytes).
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%d%c%d", prefix, os.Getpid()%100000, 'a'+rune(seq.Add(1)%26), seq.Load()%100)
}

// newMedium makes the medium named name at mtu.
func newMedium(name string, mtu int) (medium, error) {
	switch name {
	case "pipe":
		return &pipeMedium{mtu: mtu}, nil
	case "lan":
		return &lanMedium{mtu: mtu, sw: lan.New(lan.Options{})}, nil
	case "tap":
		return newTAPMedium(mtu)
	}
	return nil, fmt.Errorf("medium %q: want one of %s", name, strings.Join(Media, ", "))
}

// pipeMedium is an in-memory nic.Pipe per pair.
type pipeMedium struct {
	mtu  int
	next nic.NIC
}

func (m *pipeMedium) port(side int) (nic.NIC, error) {
	if side == 0 {
		a, b := nic.NewPipe(m.mtu, 1024)
		m.next = b
		return a, nil
	}
	n := m.next
	m.next = nil
	return n, nil
}

func (m *pipeMedium) kernel(int) (string, error) { return "", errNoKernel }

func (m *pipeMedium) close() {}

// lanMedium is the virtual LAN (package lan): in-process ports for the
// user-space stacks, and the kernel on a TAP in a namespace, plugged into
// another port (each of kernel-kernel's two namespaces on a TAP of its
// own, on a port of its own).
type lanMedium struct {
	mtu int
	sw  *lan.Switch
	ns  [2]string // the kernel's namespace by side, once made
}

// kernelPorts are the switch's port names for the kernel's TAPs by side.
var kernelPorts = [2]string{"kernel-client", "kernel"}

func (m *lanMedium) port(int) (nic.NIC, error) {
	return m.sw.AttachMem(lan.PortConfig{Name: uniqueName("p"), Tenant: "bench", MTU: m.mtu, QueueDepth: 1024})
}

func (m *lanMedium) kernel(side int) (string, error) {
	if m.ns[side] != "" {
		return m.ns[side], nil
	}
	ns := uniqueName("sn-tcpb-")
	if err := ipCmd("netns", "add", ns); err != nil {
		return "", err
	}
	if err := m.plugKernel(ns, side); err != nil {
		ipCmd("netns", "del", ns)
		return "", err
	}
	m.ns[side] = ns
	return ns, nil
}

// plugKernel plugs a TAP into the switch as port kernelPorts[side], its
// netdev in namespace ns with kernelAddrs[side].
func (m *lanMedium) plugKernel(ns string, side int) error {
	tap, err := nic.OpenTAP(uniqueName("sntb"), nic.TAPOptions{MTU: m.mtu})
	if err != nil {
		return err
	}
	name := tap.Name()
	if err := ipCmd("link", "set", name, "netns", ns); err != nil {
		tap.Close()
		return err
	}
	port := kernelPorts[side]
	if err := m.sw.Attach(tap, lan.PortConfig{Name: port, Tenant: "bench", MTU: m.mtu, QueueDepth: 1024}); err != nil {
		tap.Close()
		return err
	}
	for _, args := range [][]string{
		{"-n", ns, "addr", "add", kernelAddrs[side].String() + "/24", "dev", name},
		{"-n", ns, "link", "set", name, "up"},
		{"-n", ns, "link", "set", "lo", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			m.sw.Detach(port)
			return err
		}
	}
	if err := waitReady(ns, linkwait.AllUp(name)); err != nil {
		m.sw.Detach(port)
		return err
	}
	return nil
}

func (m *lanMedium) close() {
	m.sw.Close()
	for _, ns := range m.ns {
		if ns != "" {
			ipCmd("netns", "del", ns)
		}
	}
}

// tapMedium is a Linux bridge in a network namespace: each user-space
// stack is on its own TAP, a port of the bridge, and the kernel has
// kernelAddr on the bridge. Every frame crosses the kernel. The second
// kernel (kernel-kernel's client) is in a namespace of its own, joined
// to the bridge by a veth pair: a TAP would need a process relaying its
// frames to the bridge, which is what the LAN medium is.
//
// The path is ready before any pair uses it, the same for every pairing:
// the bridge has an address of its own (bridgeMAC) and no spanning tree,
// and every new port is forwarding (and a veth's far end operationally
// up) before port or kernel returns.
type tapMedium struct {
	mtu    int
	ns, br string
	client string // the second kernel's namespace, once made
}

// bridgeMAC is the TAP medium's bridge's address, set when it is made
// (outside the 02:74:63 prefix of the user-space stacks' addresses). A
// Linux bridge without an address of its own takes the lowest of its
// ports' and changes it as ports come and go, as every user-space pair's
// TAPs do: the second kernel's neighbour entry for kernelAddr is then
// left on an address the bridge no longer takes as its own, its next SYN
// is lost and sent again after the kernel's 1 s initial RTO (six of
// twelve kernel-kernel transfers on the TAP medium took 2.2 s instead of
// 0.3 s, 2026-12-03).
const bridgeMAC = "02:74:62:00:00:fe"

// waitReady waits, up to linkwait.Timeout, for links of ns to be in the
// states want gives them.
func waitReady(ns string, want map[string]linkwait.State) error {
	return linkwait.WaitWithin(linkwait.Timeout, ns, want)
}

func newTAPMedium(mtu int) (*tapMedium, error) {
	m := &tapMedium{mtu: mtu, ns: uniqueName("sn-tcpb-"), br: "snbr0"}
	if err := ipCmd("netns", "add", m.ns); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"-n", m.ns, "link", "add", m.br, "address", bridgeMAC, "type", "bridge", "stp_state", "0", "forward_delay", "0"},
		{"-n", m.ns, "link", "set", m.br, "mtu", fmt.Sprint(mtu)},
		{"-n", m.ns, "addr", "add", kernelAddr.String() + "/24", "dev", m.br},
		{"-n", m.ns, "link", "set", m.br, "up"},
		{"-n", m.ns, "link", "set", "lo", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			m.close()
			return nil, err
		}
	}
	return m, nil
}

func (m *tapMedium) port(int) (nic.NIC, error) {
	tap, err := nic.OpenTAP(uniqueName("sntb"), nic.TAPOptions{MTU: m.mtu})
	if err != nil {
		return nil, err
	}
	name := tap.Name()
	for _, args := range [][]string{
		{"link", "set", name, "netns", m.ns},
		{"-n", m.ns, "link", "set", name, "master", m.br},
		{"-n", m.ns, "link", "set", name, "up"},
	} {
		if err := ipCmd(args...); err != nil {
			tap.Close()
			return nil, err
		}
	}
	if err := waitReady(m.ns, map[string]linkwait.State{name: linkwait.Forwarding}); err != nil {
		tap.Close()
		return nil, err
	}
	return tap, nil
}

func (m *tapMedium) kernel(side int) (string, error) {
	if side == 1 {
		return m.ns, nil
	}
	if m.client != "" {
		return m.client, nil
	}
	ns := uniqueName("sn-tcpb-")
	if err := ipCmd("netns", "add", ns); err != nil {
		return "", err
	}
	port, peer, mtu := uniqueName("sntv"), uniqueName("sntv"), fmt.Sprint(m.mtu)
	for _, args := range [][]string{
		{"-n", m.ns, "link", "add", port, "mtu", mtu, "type", "veth", "peer", "name", peer, "mtu", mtu, "netns", ns},
		{"-n", m.ns, "link", "set", port, "master", m.br},
		{"-n", m.ns, "link", "set", port, "up"},
		{"-n", ns, "addr", "add", kernelClientAddr.String() + "/24", "dev", peer},
		{"-n", ns, "link", "set", peer, "up"},
		{"-n", ns, "link", "set", "lo", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			ipCmd("netns", "del", ns) // the veth pair goes with it
			return "", err
		}
	}
	if err := waitReady(m.ns, map[string]linkwait.State{port: linkwait.Forwarding}); err != nil {
		ipCmd("netns", "del", ns)
		return "", err
	}
	if err := waitReady(ns, linkwait.AllUp(peer)); err != nil {
		ipCmd("netns", "del", ns)
		return "", err
	}
	m.client = ns
	return ns, nil
}

func (m *tapMedium) close() {
	ipCmd("netns", "del", m.ns)
	if m.client != "" {
		ipCmd("netns", "del", m.client)
	}
}

// ipCmd runs ip(8) with args; its error names the command and its output.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
