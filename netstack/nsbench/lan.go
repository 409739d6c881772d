package nsbench

import (
	"net/netip"

	"spacenet/lan"
	"spacenet/netstack"
)

// LANPair makes two running netstacks plugged into one virtual LAN switch
// (in-process ports of the given MTU, Ethernet, ARP by gVisor, checksum
// offload on) and returns them with a function that closes everything.
func LANPair(mtu int) (a, b *netstack.Netstack, closeFn func(), err error) {
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
		m, err := sw.AttachMem(lan.PortConfig{Name: x.name, Tenant: "iperf", MTU: mtu, QueueDepth: 1024})
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

// NetstackLAN measures two netstacks through the virtual LAN switch.
func NetstackLAN(o Options) (Result, error) {
	return runPair("netstack lan", LANPair, o)
}
