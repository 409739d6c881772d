package nsbench

import (
	"net/netip"

	"spacenet/ip/lan"
	"spacenet/ip/netstack"
	"spacenet/ip/nic"
)

// LANPair makes two running netstacks plugged into one virtual LAN switch
// (by-reference in-process ports of the given MTU, lan.Switch.AttachRef:
// gVisor packet buffers cross the switch without a copy; Ethernet, ARP by
// gVisor, checksum offload on) and returns them with a function that
// closes everything.
func LANPair(mtu int) (a, b *netstack.Netstack, closeFn func(), err error) {
	return lanPair(mtu, true)
}

// LANPairCopy is LANPair on the switch's copying in-process ports
// (lan.Switch.AttachMem): each frame is flattened, copied into the
// destination's queue and out of it.
func LANPairCopy(mtu int) (a, b *netstack.Netstack, closeFn func(), err error) {
	return lanPair(mtu, false)
}

func lanPair(mtu int, byRef bool) (a, b *netstack.Netstack, closeFn func(), err error) {
	sw := lan.New(lan.Options{})
	var stacks []*netstack.Netstack
	closeFn = func() {
		for _, s := range stacks {
			s.Close()
		}
		sw.Close()
	}
	for i, x := range []struct {
		name string
		addr netip.Addr
	}{{"a", AddrA}, {"b", AddrB}} {
		pc := lan.PortConfig{Name: x.name, Tenant: "iperf", MTU: mtu, QueueDepth: 1024}
		var m nic.NIC
		if byRef {
			m, err = sw.AttachRef(pc)
		} else {
			m, err = sw.AttachMem(pc)
		}
		if err != nil {
			closeFn()
			return nil, nil, nil, err
		}
		ns, err := netstack.New(netstack.Config{MAC: [6]byte{2, 0x69, 0x70, 0, 0, byte(i + 1)}}, netstack.NICDevice(m, true))
		if err != nil {
			m.Close()
			closeFn()
			return nil, nil, nil, err
		}
		stacks = append(stacks, ns)
		ns.Start()
		if err := setAddr(ns, x.addr); err != nil {
			closeFn()
			return nil, nil, nil, err
		}
	}
	return stacks[0], stacks[1], closeFn, nil
}

// NetstackLAN measures two netstacks through the virtual LAN switch on
// by-reference ports.
func NetstackLAN(o Options) (Result, error) {
	return runPair("netstack lan", LANPair, o)
}

// NetstackLANCopy measures two netstacks through the virtual LAN switch on
// copying in-process ports (the path before by-reference ports).
func NetstackLANCopy(o Options) (Result, error) {
	return runPair("netstack lan copy", LANPairCopy, o)
}
