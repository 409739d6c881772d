package nsbench

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"

	"spacenet/internal/linkwait"
	"spacenet/internal/netnsdo"
	"spacenet/ip/lan"
	"spacenet/ip/netstack"
	"spacenet/ip/nic"
)

// VXLAN's underlay: two network namespaces made for the run, joined by a
// veth pair whose MTU carries the inner MTU plus VXLAN's 50 bytes of
// outer headers. Both VXLAN paths (ours and the kernel's) use one each,
// so they cross the same kind of wire.

// vxlanVNI is the VNI both VXLAN paths use.
const vxlanVNI = 42

// vxlanOverhead is what VXLAN adds to a frame on the underlay: outer
// IPv4 (20), UDP (8), VXLAN (8) and the inner Ethernet header (14).
const vxlanOverhead = 50

var vxlanSeq atomic.Int32

// underlay is two namespaces joined by a veth, veths[i] in names[i] with
// address vteps[i].
type underlay struct {
	names [2]string
	veths [2]string
	vteps [2]netip.Addr
}

// ErrNeedRoot is returned by the VXLAN paths when not run as root.
var ErrNeedRoot = errors.New("needs root: it makes two network namespaces, a veth pair and (for the kernel's pair) vxlan devices and bridges; run it as root")

// geteuid is os.Geteuid, replaced by a test that plays another user.
var geteuid = os.Geteuid

// checkRoot says why a VXLAN path cannot run here, or nil.
func checkRoot() error {
	if geteuid() != 0 {
		return ErrNeedRoot
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("needs ip(8) (iproute2): %w", err)
	}
	return nil
}

// runIP runs ip(8) with args, its output in the error.
func runIP(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newUnderlay makes the namespaces and the veth (MTU mtu+50, up, with
// 10.202.0.1/24 and 10.202.0.2/24) and returns it with the function that
// removes them. prefix names the namespaces.
func newUnderlay(prefix string, mtu int) (*underlay, func(), error) {
	seq := vxlanSeq.Add(1)
	u := &underlay{vteps: [2]netip.Addr{netip.MustParseAddr("10.202.0.1"), netip.MustParseAddr("10.202.0.2")}}
	var made []string
	closeFn := func() {
		for _, n := range made {
			runIP("netns", "del", n)
		}
	}
	for i := range 2 {
		u.names[i] = fmt.Sprintf("%s-%d-%d%c", prefix, os.Getpid(), seq, 'a'+i)
		u.veths[i] = fmt.Sprintf("vxu%c", 'a'+i)
		if err := runIP("netns", "add", u.names[i]); err != nil {
			closeFn()
			return nil, nil, err
		}
		made = append(made, u.names[i])
	}
	steps := [][]string{{"-n", u.names[0], "link", "add", u.veths[0], "mtu", fmt.Sprint(mtu + vxlanOverhead),
		"type", "veth", "peer", "name", u.veths[1], "mtu", fmt.Sprint(mtu + vxlanOverhead), "netns", u.names[1]}}
	for i := range 2 {
		steps = append(steps,
			[]string{"-n", u.names[i], "addr", "add", u.vteps[i].String() + "/24", "dev", u.veths[i]},
			[]string{"-n", u.names[i], "link", "set", u.veths[i], "up"})
	}
	for _, s := range steps {
		if err := runIP(s...); err != nil {
			closeFn()
			return nil, nil, err
		}
	}
	for i := range 2 {
		if err := waitOperUp(u.names[i], u.veths[i]); err != nil {
			closeFn()
			return nil, nil, err
		}
	}
	return u, closeFn, nil
}

// waitOperUp waits (up to linkwait.Timeout) until the kernel reports link
// dev of namespace ns operationally up: until then a veth drops what it is
// given (its queueing discipline is not yet active).
func waitOperUp(ns, dev string) error {
	return linkwait.WaitWithin(linkwait.Timeout, ns, linkwait.AllUp(dev))
}

// stackPair starts a netstack on each of nics (MAC 02:mac:i+1, full
// checksums), with addresses AddrA and AddrB. closeFn closes the stacks
// (each closes its NIC) and then runs cleanup; on error stackPair runs it
// itself.
func stackPair(nics [2]nic.NIC, mac [4]byte, cleanup func()) (a, b *netstack.Netstack, closeFn func(), err error) {
	var stacks []*netstack.Netstack
	closeFn = func() {
		for _, s := range stacks {
			s.Close()
		}
		for _, n := range nics[len(stacks):] {
			n.Close()
		}
		cleanup()
	}
	for i, addr := range []netip.Addr{AddrA, AddrB} {
		ns, err := netstack.New(netstack.Config{MAC: [6]byte{2, mac[0], mac[1], mac[2], mac[3], byte(i + 1)}}, netstack.NICDevice(nics[i], false))
		if err == nil {
			stacks = append(stacks, ns)
			ns.Start()
			err = setAddr(ns, addr)
		}
		if err != nil {
			closeFn()
			return nil, nil, nil, err
		}
	}
	return stacks[0], stacks[1], closeFn, nil
}

// VXLANPair makes two running netstacks, each on its own virtual LAN
// switch (a by-reference port of MTU mtu), the two switches joined by a
// VXLAN port each (nic.VXLAN, VNI 42, MTU mtu) whose sockets are bound in
// two network namespaces joined by a veth (newUnderlay): the LAN across
// two hosts. Checksums are computed in full (the tunnel is a real
// boundary). It needs root.
func VXLANPair(mtu int) (a, b *netstack.Netstack, closeFn func(), err error) {
	if err := checkRoot(); err != nil {
		return nil, nil, nil, err
	}
	u, delNS, err := newUnderlay("sn-vx", mtu)
	if err != nil {
		return nil, nil, nil, err
	}
	var switches []*lan.Switch
	cleanup := func() {
		for _, sw := range switches {
			sw.Close()
		}
		delNS()
	}
	var ports [2]nic.NIC
	for i := range 2 {
		var vx *nic.VXLAN
		err := netnsdo.Do(u.names[i], func() error {
			var err error
			vx, err = nic.OpenVXLAN(nic.VXLANConfig{Local: netip.AddrPortFrom(u.vteps[i], 4789),
				Peer: netip.AddrPortFrom(u.vteps[1-i], 4789), VNI: vxlanVNI, MTU: mtu})
			return err
		})
		if err == nil {
			sw := lan.New(lan.Options{})
			switches = append(switches, sw)
			if err = sw.Attach(vx, lan.PortConfig{Name: "vxlan", Tenant: "iperf", NoSticky: true, QueueDepth: 1024}); err != nil {
				vx.Close()
			} else {
				ports[i], err = sw.AttachRef(lan.PortConfig{Name: "stack", Tenant: "iperf", MTU: mtu, QueueDepth: 1024})
			}
		}
		if err != nil {
			cleanup() // closing the switches closes their ports
			return nil, nil, nil, err
		}
	}
	return stackPair(ports, [4]byte{0x76, 0x78, 0, 0}, cleanup)
}

// KernelVXLANPair is VXLANPair's baseline: the same two netstacks, each
// on a TAP in its own namespace, bridged there to the kernel's vxlan
// device (VNI 42, MTU mtu) over the same kind of veth: what the kernel
// does instead of our switches and VXLAN ports. Checksums in full. It
// needs root.
func KernelVXLANPair(mtu int) (a, b *netstack.Netstack, closeFn func(), err error) {
	if err := checkRoot(); err != nil {
		return nil, nil, nil, err
	}
	u, delNS, err := newUnderlay("sn-kvx", mtu)
	if err != nil {
		return nil, nil, nil, err
	}
	var taps []*nic.TAP
	fail := func(err error) (*netstack.Netstack, *netstack.Netstack, func(), error) {
		for _, t := range taps {
			t.Close()
		}
		delNS()
		return nil, nil, nil, err
	}
	seq := vxlanSeq.Add(1)
	for i := range 2 {
		ns, m := u.names[i], fmt.Sprint(mtu)
		tap := fmt.Sprintf("snkv%d%c%d", os.Getpid()%100000, 'a'+rune(seq%26), i)
		t, err := nic.OpenTAP(tap, nic.TAPOptions{MTU: mtu})
		if err != nil {
			return fail(err)
		}
		taps = append(taps, t)
		if err := u.kernelVTEP(i, mtu); err != nil {
			return fail(err)
		}
		for _, s := range [][]string{
			{"-n", ns, "link", "add", "br0", "mtu", m, "type", "bridge"},
			{"-n", ns, "link", "set", "vx0", "master", "br0", "up"},
			{"link", "set", tap, "netns", ns},
			{"-n", ns, "link", "set", tap, "master", "br0", "up"},
			{"-n", ns, "link", "set", "br0", "up"},
		} {
			if err := runIP(s...); err != nil {
				return fail(err)
			}
		}
		if err := waitOperUp(ns, "br0"); err != nil {
			return fail(err)
		}
	}
	return stackPair([2]nic.NIC{taps[0], taps[1]}, [4]byte{0x6b, 0x76, 0x78, byte(seq)}, delNS)
}

// kernelVTEP adds the kernel's vxlan device vx0 (VNI 42, MTU mtu, down)
// to namespace i of u, towards the other namespace.
func (u *underlay) kernelVTEP(i, mtu int) error {
	err := runIP("-n", u.names[i], "link", "add", "vx0", "mtu", fmt.Sprint(mtu), "type", "vxlan", "id", fmt.Sprint(vxlanVNI),
		"local", u.vteps[i].String(), "remote", u.vteps[1-i].String(), "dstport", "4789", "dev", u.veths[i])
	if err != nil {
		return fmt.Errorf("%w (is the kernel's vxlan module available?)", err)
	}
	return nil
}

// KernelTCPVXLAN measures the kernel's own TCP between the two
// namespaces of an underlay, over the kernel's vxlan devices (addresses
// 10.203.0.1 and 10.203.0.2 on them): the reference for both VXLAN
// paths, with no netstack, TAP or switch. It needs root.
func KernelTCPVXLAN(o Options) (Result, error) {
	if err := checkRoot(); err != nil {
		return Result{}, err
	}
	u, delNS, err := newUnderlay("sn-tvx", o.MTU)
	if err != nil {
		return Result{}, err
	}
	defer delNS()
	addrs := [2]string{"10.203.0.1", "10.203.0.2"}
	for i := range 2 {
		if err := u.kernelVTEP(i, o.MTU); err != nil {
			return Result{}, err
		}
		if err := runIP("-n", u.names[i], "addr", "add", addrs[i]+"/24", "dev", "vx0"); err != nil {
			return Result{}, err
		}
		if err := runIP("-n", u.names[i], "link", "set", "vx0", "up"); err != nil {
			return Result{}, err
		}
	}
	var l net.Listener
	if err := netnsdo.Do(u.names[1], func() (err error) {
		l, err = net.Listen("tcp4", addrs[1]+":5201")
		return err
	}); err != nil {
		return Result{}, err
	}
	defer l.Close()
	dial := func() (c net.Conn, err error) {
		err = netnsdo.Do(u.names[0], func() error {
			c, err = net.Dial("tcp4", addrs[1]+":5201")
			return err
		})
		return c, err
	}
	r, err := Run(l, dial, o)
	r.Name, r.MTU = "kernel tcp over kernel vxlan", o.MTU
	return r, err
}

// NetstackVXLAN measures two netstacks on two LAN switches joined by our
// VXLAN ports (VXLANPair).
func NetstackVXLAN(o Options) (Result, error) {
	return runPair("netstack lan+vxlan", VXLANPair, o)
}

// NetstackKernelVXLAN measures the same two netstacks through TAPs,
// bridges and the kernel's vxlan devices (KernelVXLANPair).
func NetstackKernelVXLAN(o Options) (Result, error) {
	return runPair("netstack tap+kernel vxlan", KernelVXLANPair, o)
}
