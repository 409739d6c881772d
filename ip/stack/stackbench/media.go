package stackbench

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"

	"spacenet/ip/lan"
	"spacenet/ip/nic"
)

// Media are the media Run knows, in the order it measures them.
var Media = []string{"pipe", "lan", "tap"}

// kernelAddr is the kernel's address on every medium that has one.
var kernelAddr = netip.MustParseAddr("10.77.0.254")

// medium joins user-space stacks (and, where it can, the kernel).
type medium interface {
	// port returns a new NIC for side (0 client, 1 server) of a new pair.
	port(side int) (nic.NIC, error)
	// kernel returns the network namespace where the kernel has
	// kernelAddr on the medium, or errNoKernel.
	kernel() (string, error)
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

func (m *pipeMedium) kernel() (string, error) { return "", errNoKernel }

func (m *pipeMedium) close() {}

// lanMedium is the virtual LAN (package lan): in-process ports for the
// user-space stacks, and the kernel on a TAP in a namespace, plugged into
// another port.
type lanMedium struct {
	mtu int
	sw  *lan.Switch
	ns  string
}

func (m *lanMedium) port(int) (nic.NIC, error) {
	return m.sw.AttachMem(lan.PortConfig{Name: uniqueName("p"), Tenant: "bench", MTU: m.mtu, QueueDepth: 1024})
}

func (m *lanMedium) kernel() (string, error) {
	if m.ns != "" {
		return m.ns, nil
	}
	ns := uniqueName("sn-tcpb-")
	if err := ipCmd("netns", "add", ns); err != nil {
		return "", err
	}
	if err := m.plugKernel(ns); err != nil {
		ipCmd("netns", "del", ns)
		return "", err
	}
	m.ns = ns
	return ns, nil
}

// plugKernel plugs a TAP into the switch, its netdev in namespace ns
// with kernelAddr.
func (m *lanMedium) plugKernel(ns string) error {
	tap, err := nic.OpenTAP(uniqueName("sntb"), nic.TAPOptions{MTU: m.mtu})
	if err != nil {
		return err
	}
	name := tap.Name()
	if err := ipCmd("link", "set", name, "netns", ns); err != nil {
		tap.Close()
		return err
	}
	if err := m.sw.Attach(tap, lan.PortConfig{Name: "kernel", Tenant: "bench", MTU: m.mtu, QueueDepth: 1024}); err != nil {
		tap.Close()
		return err
	}
	for _, args := range [][]string{
		{"-n", ns, "addr", "add", kernelAddr.String() + "/24", "dev", name},
		{"-n", ns, "link", "set", name, "up"},
		{"-n", ns, "link", "set", "lo", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			m.sw.Detach("kernel")
			return err
		}
	}
	return nil
}

func (m *lanMedium) close() {
	m.sw.Close()
	if m.ns != "" {
		ipCmd("netns", "del", m.ns)
	}
}

// tapMedium is a Linux bridge in a network namespace: each user-space
// stack is on its own TAP, a port of the bridge, and the kernel has
// kernelAddr on the bridge. Every frame crosses the kernel.
type tapMedium struct {
	mtu    int
	ns, br string
}

func newTAPMedium(mtu int) (*tapMedium, error) {
	m := &tapMedium{mtu: mtu, ns: uniqueName("sn-tcpb-"), br: "snbr0"}
	if err := ipCmd("netns", "add", m.ns); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"-n", m.ns, "link", "add", m.br, "type", "bridge"},
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
	return tap, nil
}

func (m *tapMedium) kernel() (string, error) { return m.ns, nil }

func (m *tapMedium) close() { ipCmd("netns", "del", m.ns) }

// ipCmd runs ip(8) with args; its error names the command and its output.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
