package netstack

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"spacenet/ip/lan"
	"spacenet/ip/nic"
)

// refLAN is a switch with netstacks on by-reference ports (and, when
// asked, on an ordinary in-process port that copies).
type refLAN struct {
	sw     *lan.Switch
	stacks map[string]*Netstack
}

// newRefLAN attaches one netstack per port config; ports named "m..."
// are byte ports (AttachMem), the others by-reference (AttachRef). A
// QueueDepth of 0 means 1024 (as nsbench's LAN path).
func newRefLAN(t *testing.T, opts lan.Options, pcs ...lan.PortConfig) *refLAN {
	t.Helper()
	l := &refLAN{sw: lan.New(opts), stacks: map[string]*Netstack{}}
	t.Cleanup(func() { l.sw.Close() })
	for i, pc := range pcs {
		if pc.QueueDepth == 0 {
			pc.QueueDepth = 1024
		}
		var n nic.NIC
		var err error
		if pc.Name[0] == 'm' {
			n, err = l.sw.AttachMem(pc)
		} else {
			n, err = l.sw.AttachRef(pc)
		}
		if err != nil {
			t.Fatal(err)
		}
		ns := mustNew(t, Config{MAC: [6]byte{2, 0, 0, 0, 2, byte(i + 1)}}, NICDevice(n, true))
		ns.Start()
		l.stacks[pc.Name] = ns
	}
	return l
}

func shared(ns *Netstack) uint64 { return ns.dev.(*nicDevice).shared.Load() }

// TestTCPOverRefLAN: byte-exact TCP both ways between netstacks on
// by-reference ports at MTU 1500 and 65000, where packets cross as
// shared gVisor buffers; between a by-reference port and a copying one
// (each frame copied once); and through a 4-frame queue that drops
// (counted queue_full, every dropped reference released: the leak
// checker in TestMain panics otherwise). ARP floods reach every port.
func TestTCPOverRefLAN(t *testing.T) {
	ip := func(i byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, i}) }
	for _, mtu := range []int{1500, 65000} {
		t.Run(fmt.Sprint("mtu=", mtu), func(t *testing.T) {
			l := newRefLAN(t, lan.Options{},
				lan.PortConfig{Name: "a", Tenant: "t", MTU: mtu},
				lan.PortConfig{Name: "b", Tenant: "t", MTU: mtu},
				lan.PortConfig{Name: "c", Tenant: "t", MTU: mtu},
				lan.PortConfig{Name: "m", Tenant: "t", MTU: mtu})
			a, b, m := l.stacks["a"], l.stacks["b"], l.stacks["m"]
			for i, name := range []string{"a", "b", "c", "m"} {
				setAddr(t, l.stacks[name], ip(byte(i+1)))
			}
			transfer(t, a, b, ip(2), 100, 4<<20)
			transfer(t, b, a, ip(1), 101, 4<<20)
			if sb, sa := shared(b), shared(a); sb == 0 || sa == 0 {
				t.Fatalf("packets received by reference: a %d, b %d; want both > 0", sa, sb)
			}
			t.Logf("by reference: a received %d, b %d", shared(a), shared(b))
			// Between a by-reference port and a copying one.
			transfer(t, a, m, ip(4), 102, 1<<20)
			transfer(t, m, a, ip(1), 103, 1<<20)
			// c saw only the ARP requests the others flooded.
			sc, _ := l.sw.Port("c")
			if sc.TxFrames == 0 || sc.TxFrames > 16 {
				t.Errorf("c: %+v; want the few flooded ARP requests", sc)
			}
			for _, p := range l.sw.Ports() {
				t.Logf("%s (%s): rx %d tx %d rxdrops %v txdrops %v", p.Name, p.NIC, p.RxFrames, p.TxFrames, p.RxDrops, p.TxDrops)
				if p.Forwarded() != p.RxFrames {
					t.Errorf("%s dropped at ingress: %v", p.Name, p.RxDrops)
				}
			}
		})
	}
	t.Run("queue of 4", func(t *testing.T) {
		l := newRefLAN(t, lan.Options{},
			lan.PortConfig{Name: "a", Tenant: "t", MTU: 9000},
			lan.PortConfig{Name: "b", Tenant: "t", MTU: 9000, QueueDepth: 4})
		a, b := l.stacks["a"], l.stacks["b"]
		setAddr(t, a, ip(1))
		setAddr(t, b, ip(2))
		transfer(t, a, b, ip(2), 200, 2<<20)
		sb, _ := l.sw.Port("b")
		t.Logf("b: tx %d, queue_full %d", sb.TxFrames, sb.TxDrops[lan.ReasonQueueFull])
		if sb.TxDrops[lan.ReasonQueueFull] == 0 {
			t.Errorf("no queue_full drops at b with a 4-frame queue: %+v", sb)
		}
	})
}

// TestIPv6NDPOverLAN: two netstacks with IPv6 addresses only on the LAN
// switch (by-reference ports, and copying ones), neighbours resolved by
// gVisor's NDP: UDP and TCP both ways, and a Monitor sees neighbour
// solicitations and advertisements (ICMPv6 135, 136) cross the switch.
func TestIPv6NDPOverLAN(t *testing.T) {
	for _, kind := range []string{"ref", "mem"} {
		t.Run(kind, func(t *testing.T) {
			var mu sync.Mutex
			ndp := map[string]int{} // "in 135", "out 136", ...
			mon := func(port string, dir lan.Direction, f []byte) {
				if len(f) < 14+40+1 || binary.BigEndian.Uint16(f[12:]) != 0x86dd {
					return
				}
				ip := header.IPv6(f[14:])
				if ip.NextHeader() != uint8(header.ICMPv6ProtocolNumber) {
					return
				}
				typ := header.ICMPv6(ip.Payload()).Type()
				if typ == header.ICMPv6NeighborSolicit || typ == header.ICMPv6NeighborAdvert {
					mu.Lock()
					ndp[fmt.Sprint(dir, " ", typ)]++
					mu.Unlock()
				}
			}
			names := []string{"a", "b"}
			if kind == "mem" {
				names = []string{"ma", "mb"}
			}
			l := newRefLAN(t, lan.Options{Monitor: mon},
				lan.PortConfig{Name: names[0], Tenant: "t"},
				lan.PortConfig{Name: names[1], Tenant: "t"})
			a, b := l.stacks[names[0]], l.stacks[names[1]]
			v6a, v6b := netip.MustParseAddr("fd00:5::1"), netip.MustParseAddr("fd00:5::2")
			setAddr(t, a, v6a)
			setAddr(t, b, v6b)
			ua, err := a.ListenUDP(netip.AddrPortFrom(v6a, 5353))
			if err != nil {
				t.Fatal(err)
			}
			defer ua.Close()
			ub, err := b.ListenUDP(netip.AddrPortFrom(v6b, 5353))
			if err != nil {
				t.Fatal(err)
			}
			defer ub.Close()
			buf := make([]byte, 2048)
			for _, d := range []struct {
				from, to *PacketConn
				dst, src netip.Addr
				msg      string
			}{{ua, ub, v6b, v6a, "a to b over NDP"}, {ub, ua, v6a, v6b, "b to a over NDP"}} {
				if _, err := d.from.WriteToAddrPort([]byte(d.msg), netip.AddrPortFrom(d.dst, 5353)); err != nil {
					t.Fatal(err)
				}
				d.to.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, from, err := d.to.ReadFromAddrPort(buf)
				if err != nil || string(buf[:n]) != d.msg || from != netip.AddrPortFrom(d.src, 5353) {
					t.Fatalf("udp6: %q from %v, %v; want %q from %v", buf[:n], from, err, d.msg, d.src)
				}
			}
			transfer(t, a, b, v6b, 443, 1<<20)
			transfer(t, b, a, v6a, 444, 1<<20)
			mu.Lock()
			defer mu.Unlock()
			t.Logf("NDP frames seen: %v", ndp)
			for _, k := range []string{"in 135", "in 136", "out 135", "out 136"} {
				if ndp[k] == 0 {
					t.Errorf("no NDP %q frame crossed the switch: %v", k, ndp)
				}
			}
			for _, p := range l.sw.Ports() {
				if p.Forwarded() != p.RxFrames || p.TxDrops != ([lan.NumReasons]uint64{}) {
					t.Errorf("%s: drops %v %v", p.Name, p.RxDrops, p.TxDrops)
				}
			}
		})
	}
}

// TestRefDeviceAllocs: a netstack device on a by-reference port sends and
// receives packet buffers (as another netstack's device would get them)
// without allocating per packet.
func TestRefDeviceAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	sw := lan.New(lan.Options{})
	defer sw.Close()
	ra, err := sw.AttachRef(lan.PortConfig{Name: "a", Tenant: "t"})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := sw.AttachRef(lan.PortConfig{Name: "b", Tenant: "t"})
	if err != nil {
		t.Fatal(err)
	}
	da, db := NICDevice(ra, true).(*nicDevice), NICDevice(rb, true).(*nicDevice)
	defer func() {
		da.close()
		db.close()
		da.releaseViews()
		db.releaseViews()
	}()
	macA, macB := [6]byte{2, 0, 0, 0, 3, 1}, [6]byte{2, 0, 0, 0, 3, 2}
	frame := func(dst, src [6]byte, n int) *stack.PacketBuffer {
		f := make([]byte, n)
		copy(f, dst[:])
		copy(f[6:], src[:])
		binary.BigEndian.PutUint16(f[12:], 0x88b5)
		return stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(f)})
	}
	// b announces itself so that a's frames are unicast to b only.
	hello := frame([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, macB, 60)
	if _, err := db.send([]*stack.PacketBuffer{hello}); err != nil {
		t.Fatal(err)
	}
	hello.DecRef()
	got := make([]*stack.PacketBuffer, 32)
	if n, err := da.recvNIC(got); n != 1 || err != nil {
		t.Fatalf("a: recv %d, %v", n, err)
	}
	got[0].DecRef()
	pkts := make([]*stack.PacketBuffer, 32)
	for i := range pkts {
		pkts[i] = frame(macB, macA, 1514)
	}
	defer func() {
		for _, p := range pkts {
			p.DecRef()
		}
	}()
	step := func() {
		if n, err := da.send(pkts); n != len(pkts) || err != nil {
			t.Fatalf("send %d, %v", n, err)
		}
		for k := 0; k < len(pkts); {
			n, err := db.recvNIC(got)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if got[i].Size() != 1514 {
					t.Fatalf("received %d bytes", got[i].Size())
				}
				got[i].DecRef()
				got[i] = nil
			}
			k += n
		}
	}
	step()
	if avg := testing.AllocsPerRun(100, step); avg != 0 {
		t.Errorf("%v allocations per %d packets; want 0", avg, len(pkts))
	}
	if n := db.shared.Load(); n != 102*32 {
		t.Errorf("b received %d packets by reference; want %d", n, 102*32)
	}
}

// TestRefQueuedReleased: gVisor packets sent by reference and queued at a
// port nobody reads (flooded to two by-reference ports, dropped at a full
// one) hold exactly one reference per queue entry, and closing the ports
// gives them all back.
func TestRefQueuedReleased(t *testing.T) {
	sw := lan.New(lan.Options{})
	defer sw.Close()
	ra, err := sw.AttachRef(lan.PortConfig{Name: "a", Tenant: "t"})
	if err != nil {
		t.Fatal(err)
	}
	y, err := sw.AttachRef(lan.PortConfig{Name: "y", Tenant: "t", QueueDepth: 8})
	if err != nil {
		t.Fatal(err)
	}
	z, err := sw.AttachRef(lan.PortConfig{Name: "z", Tenant: "t", QueueDepth: 4})
	if err != nil {
		t.Fatal(err)
	}
	da := NICDevice(ra, true).(*nicDevice)
	defer func() {
		da.close()
		da.releaseViews()
	}()
	pkts := make([]*stack.PacketBuffer, 6)
	for i := range pkts {
		f := make([]byte, 1000)
		copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 4, 1, 0x88, 0xb5, byte(i)})
		pkts[i] = stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(f)})
	}
	if n, err := da.send(pkts); n != len(pkts) || err != nil {
		t.Fatalf("send %d, %v", n, err)
	}
	for i, p := range pkts {
		want := int64(2) // ours and y's
		if i < 4 {
			want = 3 // and z's
		}
		if got := p.ReadRefs(); got != want {
			t.Fatalf("packet %d: %d references; want %d", i, got, want)
		}
	}
	if st, _ := sw.Port("z"); st.Queued != 4 || st.TxDrops[lan.ReasonQueueFull] != 2 {
		t.Fatalf("z: %+v", st)
	}
	y.Close()
	z.Close()
	for i, p := range pkts {
		if got := p.ReadRefs(); got != 1 {
			t.Fatalf("after close: packet %d: %d references; want 1", i, got)
		}
		p.DecRef()
	}
	if st, _ := sw.Port("a"); st.RxFrames != 6 || st.Forwarded() != 6 {
		t.Fatalf("a: %+v", st)
	}
}
