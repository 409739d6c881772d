package netstack

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"spacenet/ip/lan"
	"spacenet/ip/lan/fault"
	"spacenet/ip/nic"
)

// lanPair makes two running netstacks plugged into one virtual LAN switch
// (in-process ports), each NIC optionally wrapped in fault injectors.
func lanPair(t testing.TB, mtu int, cfg Config, fc *fault.Config) (a, b *Netstack, fa, fb *fault.NIC) {
	return lanPairOffload(t, mtu, cfg, fc, true)
}

// lanPairOffload is lanPair with checksum offload chosen: a link that may
// corrupt frames needs real checksums.
func lanPairOffload(t testing.TB, mtu int, cfg Config, fc *fault.Config, offload bool) (a, b *Netstack, fa, fb *fault.NIC) {
	t.Helper()
	sw := lan.New(lan.Options{})
	t.Cleanup(func() { sw.Close() })
	var nics [2]nic.NIC
	var faults [2]*fault.NIC
	for i, name := range []string{"a", "b"} {
		m, err := sw.AttachMem(lan.PortConfig{Name: name, Tenant: "t", MTU: mtu, QueueDepth: 1024})
		if err != nil {
			t.Fatal(err)
		}
		nics[i] = m
		if fc != nil {
			faults[i] = fault.Wrap(m, *fc, uint64(i+1))
			nics[i] = faults[i]
		}
	}
	ca, cb := cfg, cfg
	ca.MAC, cb.MAC = [6]byte{2, 0, 0, 0, 1, 1}, [6]byte{2, 0, 0, 0, 1, 2}
	a = mustNew(t, ca, NICDevice(nics[0], offload))
	b = mustNew(t, cb, NICDevice(nics[1], offload))
	a.Start()
	b.Start()
	setAddr(t, a, addrA)
	setAddr(t, b, addrB)
	return a, b, faults[0], faults[1]
}

func TestUDPAndTCPOverLAN(t *testing.T) {
	for _, mtu := range []int{1500, 9000} {
		t.Run(fmt.Sprint("mtu=", mtu), func(t *testing.T) {
			a, b, _, _ := lanPair(t, mtu, Config{}, nil)
			pa, err := a.ListenUDP(netip.AddrPortFrom(addrA, 0))
			if err != nil {
				t.Fatal(err)
			}
			defer pa.Close()
			pb, err := b.ListenUDP(netip.AddrPortFrom(addrB, 6000))
			if err != nil {
				t.Fatal(err)
			}
			defer pb.Close()
			msg := make([]byte, mtu-28) // one full-size datagram
			for i := range msg {
				msg[i] = byte(i)
			}
			if _, err := pa.WriteToAddrPort(msg, netip.AddrPortFrom(addrB, 6000)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 65536)
			pb.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, from, err := pb.ReadFromAddrPort(buf)
			if err != nil || n != len(msg) || from.Addr() != addrA || string(buf[:n]) != string(msg) {
				t.Fatalf("udp over lan: n=%d from %v: %v", n, from, err)
			}
			transfer(t, a, b, addrB, 200, 1<<20)
			transfer(t, b, a, addrA, 201, 1<<20)
		})
	}
}

// TestFaultToleranceLAN: byte-exact TCP transfers through the LAN switch
// with package ip/lan/fault's injectors on both ports.
func TestFaultToleranceLAN(t *testing.T) {
	small := Config{TCPSendBuffer: 16 << 10, TCPRecvBuffer: 16 << 10}
	tests := []struct {
		name string
		cfg  Config
		fc   fault.Config
	}{
		{"loss 1%", Config{}, fault.Config{Loss: 0.01}},
		{"reorder 3%", Config{}, fault.Config{Reorder: 0.03}},
		{"duplicate 2%", Config{}, fault.Config{Duplicate: 0.02}},
		{"corrupt 0.5%", Config{}, fault.Config{Corrupt: 0.005}},
		{"outage 200ms", small, fault.Config{Outages: []fault.Window{{Start: 50 * time.Millisecond, Len: 200 * time.Millisecond}}}},
		{"mixed", small, fault.Config{Loss: 0.01, Reorder: 0.02, Duplicate: 0.01}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Corruption is only caught by real checksums: no offload.
			a, b, fa, fb := lanPairOffload(t, 1500, tc.cfg, &tc.fc, tc.fc.Corrupt == 0)
			// The windows start with the traffic: set-up under load can
			// take longer than a window's start.
			fa.RestartWindows()
			fb.RestartWindows()
			start := time.Now()
			transfer(t, a, b, addrB, 300, 1<<20)
			if len(tc.fc.Outages) > 0 {
				// Keep transferring (each checked) until the outage
				// window has hit the data and passed.
				w := tc.fc.Outages[0]
				end := start.Add(w.Start + w.Len)
				for port := uint16(301); fa.Stats().Outage == 0 || time.Now().Before(end); port++ {
					transfer(t, a, b, addrB, port, 256<<10)
				}
			}
			sa, sb := fa.Stats(), fb.Stats()
			t.Logf("a: %+v", sa)
			t.Logf("b: %+v", sb)
			faults := sa.Lost + sa.Outage + sa.Corrupted + sa.Duplicated + sa.Reordered
			if faults == 0 {
				t.Fatal("no fault injected")
			}
			if tc.fc.Corrupt > 0 {
				st := b.Stack().Stats()
				bad := st.TCP.ChecksumErrors.Value() + st.IP.MalformedPacketsReceived.Value()
				t.Logf("b refused %d corrupted packets (checksum or header)", bad)
			}
		})
	}
}
