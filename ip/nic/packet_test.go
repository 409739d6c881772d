package nic

import (
	"bytes"
	"errors"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"spacenet/internal/netnstest"
)

// newVeth makes a veth pair whose peer is in a fresh netns with address
// kernelIP/24, both ends up; it returns the name of the end left here.
func newVeth(t *testing.T, kernelIP netip.Addr) (here, ns string) {
	t.Helper()
	ns = netnstest.NewNetns(t, "sn-nic-")
	here, peer := netnstest.NewVeth(t, ns)
	netnstest.Run(t, "ip", "-n", ns, "addr", "add", kernelIP.String()+"/24", "dev", peer)
	netnstest.Run(t, "ip", "-n", ns, "link", "set", peer, "up")
	netnstest.SetUpAndWait(t, "", here)
	netnstest.WaitUp(t, ns, peer) // up before here: its qdisc waits for linkwatch
	return here, ns
}

func openPacket(t *testing.T, ifname string) *Packet {
	t.Helper()
	p, err := OpenPacket(ifname)
	netnstest.SkipIfRefused(t, err, "AF_PACKET")
	return p
}

// TestPacketKernel is TestTAPKernel over a veth pair: the kernel in a
// netns ARPs for us, we answer through the AF_PACKET socket, the kernel
// sends a UDP datagram (with a partial checksum, which Recv completes) and
// records our MAC. Our own ARP reply must not come back to us.
func TestPacketKernel(t *testing.T) {
	kernelIP, ourIP := netip.MustParseAddr("10.232.0.1"), netip.MustParseAddr("10.232.0.2")
	ifname, ns := newVeth(t, kernelIP)
	p := openPacket(t, ifname)
	defer p.Close()
	watchdog(t, p, 20*time.Second)
	if p.Name() != ifname || p.MTU() != 1500 {
		t.Errorf("Name %q MTU %d", p.Name(), p.MTU())
	}
	netnstest.Run(t, "ip", "netns", "exec", ns, "bash", "-c", "echo hello > /dev/udp/"+ourIP.String()+"/9999")
	req := recvUntil(t, p, "ARP request", func(f []byte) bool { return isARPRequest(f, ourIP) })
	kernelMAC := checkARPRequest(t, req, kernelIP, ourIP)
	reply := arpReply(testMAC, kernelMAC, ourIP, kernelIP)
	if n, err := p.Send([][]byte{reply}); n != 1 || err != nil {
		t.Fatalf("Send ARP reply = %d, %v", n, err)
	}
	udp := recvUntil(t, p, "UDP datagram", func(f []byte) bool {
		if bytes.Equal(f, reply) {
			t.Errorf("received our own ARP reply")
		}
		return isUDPTo(f, ourIP, 9999)
	})
	checkUDP(t, udp, "hello\n")
	neigh := netnstest.Run(t, "ip", "-n", ns, "neigh", "show", ourIP.String())
	if want := "lladdr 02:53:4e:00:00:01"; !strings.Contains(neigh, want) {
		t.Errorf("ip neigh: %q; want it to contain %q", neigh, want)
	}
	if s := p.Stats(); s.TxFrames != 1 || s.TxBytes != 60 || s.RxFrames < 2 || s.RxTooBig+s.RxFraming+s.RxBadCsum+s.RxGSO != 0 {
		t.Errorf("stats %+v", s)
	}
}

// quietVethPair makes a veth pair in this netns with IPv6 off, so that the
// kernel sends nothing on it, and returns both names.
func quietVethPair(t testing.TB) (string, string) {
	t.Helper()
	a, b := netnstest.NewVeth(t, "")
	for _, x := range []string{a, b} {
		netnstest.Run(t, "sysctl", "-q", "-w", "net.ipv6.conf."+x+".disable_ipv6=1")
	}
	netnstest.SetUpAndWait(t, "", a, b)
	return a, b
}

// TestPacketBatch sends 64 frames with one sendmmsg on one end of a veth
// pair and receives them, in order and byte for byte, on the other; then
// checks that a frame too big for the caller's buffer is dropped and
// counted while its neighbours arrive.
func TestPacketBatch(t *testing.T) {
	a, b := quietVethPair(t)
	pa, pb := openPacket(t, a), openPacket(t, b)
	defer pa.Close()
	defer pb.Close()
	watchdog(t, pb, 20*time.Second)
	frame := func(n int, tag byte) []byte {
		f := frameOf(n, tag)
		copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, tag, 0x88, 0xb5})
		return f
	}
	var frames [][]byte
	for i := range 64 {
		frames = append(frames, frame(60+i*20, byte(i)))
	}
	if n, err := pa.Send(frames); n != 64 || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
	bufs, sizes := makeBufs(64, 1514)
	for got := 0; got < 64; {
		n, err := pb.Recv(bufs, sizes)
		if err != nil {
			t.Fatalf("after %d frames: %v (stats %+v)", got, err, pb.Stats())
		}
		for i := range n {
			if f := bufs[i][:sizes[i]]; !bytes.Equal(f, frames[got]) {
				t.Fatalf("frame %d: got % x; want % x", got, f, frames[got])
			}
			got++
		}
	}
	if s := pb.Stats(); s.RxFrames != 64 || s.RxTooBig != 0 {
		t.Errorf("receiver stats %+v", s)
	}
	if s := pa.Stats(); s.TxFrames != 64 || s.RxFrames != 0 {
		t.Errorf("sender stats %+v (its own frames must not come back)", s)
	}

	small := [][]byte{frame(60, 100), frame(1514, 101), frame(60, 102)}
	if n, err := pa.Send(small); n != 3 || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
	bufs, sizes = makeBufs(4, 100)
	var got [][]byte
	for len(got) < 2 {
		n, err := pb.Recv(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			got = append(got, bytes.Clone(bufs[i][:sizes[i]]))
		}
	}
	if len(got) != 2 || !bytes.Equal(got[0], small[0]) || !bytes.Equal(got[1], small[2]) {
		t.Errorf("got %d frames % x; want frames 0 and 2", len(got), got)
	}
	if s := pb.Stats(); s.RxTooBig != 1 || s.RxFrames != 66 {
		t.Errorf("receiver stats %+v; want RxTooBig 1, RxFrames 66", s)
	}
}

func TestPacketCloseUnblocks(t *testing.T) {
	p := openPacket(t, "lo")
	errs := make(chan error)
	go func() {
		bufs, sizes := makeBufs(4, 65536)
		for {
			if _, err := p.Recv(bufs, sizes); err != nil {
				errs <- err
				return
			}
		}
	}()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Errorf("Recv after Close = %v; want ErrClosed", err)
	}
	if _, err := p.Send([][]byte{make([]byte, 60)}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v; want ErrClosed", err)
	}
}

func TestPacketErrors(t *testing.T) {
	_, err := OpenPacket("sn-nonexistent")
	if want := `nic: open packet "sn-nonexistent": no such interface`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("OpenPacket = %v; want prefix %q", err, want)
	}
	kernelIP := netip.MustParseAddr("10.234.0.1")
	ifname, _ := newVeth(t, kernelIP)
	p := openPacket(t, ifname)
	defer p.Close()
	frames := [][]byte{make([]byte, 60), make([]byte, 1515), make([]byte, 60)}
	n, err := p.Send(frames)
	if n != 1 || !errors.Is(err, ErrTooBig) || !strings.Contains(err.Error(), "send frame 1: 1515 bytes") {
		t.Errorf("Send = %d, %v; want 1, ErrTooBig for frame 1", n, err)
	}
	if s := p.Stats(); s.TxFrames != 1 || s.TxTooBig != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestPacketGSO has the kernel send UDP GSO super-frames (UDP_SEGMENT)
// across the veth. The first arrives truncated in an MTU-sized buffer: it
// must be counted as RxGSO (not delivered, not miscounted as too big), and
// the socket must switch to reading whole super-frames, so that the second
// one is delivered as its four segments with correct checksums.
func TestPacketGSO(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed (used to set UDP_SEGMENT)")
	}
	kernelIP, ourIP := netip.MustParseAddr("10.236.0.1"), netip.MustParseAddr("10.236.0.2")
	ifname, ns := newVeth(t, kernelIP)
	p := openPacket(t, ifname)
	defer p.Close()
	watchdog(t, p, 20*time.Second)
	peer := strings.TrimSpace(netnstest.Run(t, "ip", "-n", ns, "-o", "link", "show", "type", "veth"))
	peer = strings.SplitN(strings.Fields(peer)[1], "@", 2)[0]
	netnstest.Run(t, "ip", "-n", ns, "neigh", "add", ourIP.String(), "lladdr", "02:53:4e:00:00:01", "dev", peer)
	send := func(port int, segment bool, payload string) {
		seg := "0"
		if segment {
			seg = "1000"
		}
		netnstest.Run(t, "ip", "netns", "exec", ns, "python3", "-c", `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_UDP, 103, `+seg+`)  # UDP_SEGMENT
s.sendto(`+payload+`, ("`+ourIP.String()+`", `+strconv.Itoa(port)+`))
`)
	}
	send(9998, true, `b"g" * 3000`)
	send(9999, false, `b"after"`)
	udp := recvUntil(t, p, "the datagram after the first GSO one", func(f []byte) bool {
		if isUDPTo(f, ourIP, 9998) {
			t.Errorf("received a %d-byte frame of the first GSO datagram", len(f))
		}
		return isUDPTo(f, ourIP, 9999)
	})
	checkUDP(t, udp, "after")
	if s := p.Stats(); s.RxGSO != 1 || s.RxTooBig != 0 {
		t.Errorf("stats %+v; want RxGSO 1, RxTooBig 0", s)
	}

	send(9997, true, `bytes(i % 251 for i in range(3500))`)
	var segs [][]byte
	bufs, sizes := makeBufs(8, 1514)
	for len(segs) < 4 {
		n, err := p.Recv(bufs, sizes)
		if err != nil {
			t.Fatalf("after %d segments of the second GSO datagram: %v (stats %+v)", len(segs), err, p.Stats())
		}
		for i := range n {
			if f := bufs[i][:sizes[i]]; isUDPTo(f, ourIP, 9997) {
				segs = append(segs, append([]byte(nil), f...))
			}
		}
	}
	off := 0
	for i, f := range segs {
		_, l4 := verifyL4(t, f)
		want := min(1000, 3500-off)
		if len(l4) != 8+want {
			t.Fatalf("segment %d: %d UDP bytes; want %d", i, len(l4), 8+want)
		}
		for j, b := range l4[8:] {
			if b != byte((off+j)%251) {
				t.Fatalf("segment %d byte %d = %d", i, j, b)
			}
		}
		off += want
	}
	if s := p.Stats(); s.RxGSO != 1 || s.RxTooBig != 0 {
		t.Errorf("stats %+v; want RxGSO still 1", s)
	}
}
