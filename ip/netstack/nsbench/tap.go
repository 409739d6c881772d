package nsbench

import (
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"

	"spacenet/ip/netstack"
	"spacenet/ip/nic"
)

var tapSeq atomic.Int32

// TAPPair makes two running netstacks, each on its own TAP device, joined
// by a Linux bridge inside a network namespace made for the purpose (named
// sn-iperf-PID-N, removed by closeFn): every frame crosses the kernel twice.
// Checksums are computed in full (a real boundary). It needs root.
func TAPPair(mtu int) (a, b *netstack.Netstack, closeFn func(), err error) {
	seq := tapSeq.Add(1)
	nsName := fmt.Sprintf("sn-iperf-%d-%d", os.Getpid(), seq)
	ip := runIP
	if err := ip("netns", "add", nsName); err != nil {
		return nil, nil, nil, err
	}
	var stacks []*netstack.Netstack
	var taps []*nic.TAP
	closeFn = func() {
		for _, s := range stacks {
			s.Close()
		}
		for _, t := range taps[len(stacks):] {
			t.Close()
		}
		ip("netns", "del", nsName)
	}
	br := "snbr0"
	steps := [][]string{
		{"-n", nsName, "link", "add", br, "type", "bridge"},
		{"-n", nsName, "link", "set", br, "mtu", fmt.Sprint(mtu), "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			closeFn()
			return nil, nil, nil, err
		}
	}
	for i := 0; i < 2; i++ {
		name := fmt.Sprintf("snip%d%c%d", os.Getpid()%100000, 'a'+rune(seq%26), i)
		t, err := nic.OpenTAP(name, nic.TAPOptions{MTU: mtu})
		if err != nil {
			closeFn()
			return nil, nil, nil, err
		}
		taps = append(taps, t)
		for _, s := range [][]string{
			{"link", "set", name, "netns", nsName},
			{"-n", nsName, "link", "set", name, "master", br},
			{"-n", nsName, "link", "set", name, "up"},
		} {
			if err := ip(s...); err != nil {
				closeFn()
				return nil, nil, nil, err
			}
		}
	}
	for i, addr := range []netip.Addr{AddrA, AddrB} {
		ns, err := netstack.New(netstack.Config{MAC: [6]byte{2, 0x74, 0x61, 0x70, byte(seq), byte(i + 1)}}, netstack.NICDevice(taps[i], false))
		if err != nil {
			closeFn()
			return nil, nil, nil, err
		}
		stacks = append(stacks, ns)
		ns.Start()
		if err := setAddr(ns, addr); err != nil {
			closeFn()
			return nil, nil, nil, err
		}
	}
	return stacks[0], stacks[1], closeFn, nil
}

// NetstackTAP measures two netstacks through two TAPs and a kernel bridge.
func NetstackTAP(o Options) (Result, error) {
	return runPair("netstack tap+bridge", TAPPair, o)
}
