package stack

import (
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"testing"
	"time"

	"spacenet/internal/checkstream"
	"spacenet/ip/lan"
	"spacenet/ip/netstack"
	"spacenet/ip/tcp"
	"spacenet/ip/tcp/tcptest"
)

// duplexStream sends the test stream over c (then half-closes it) while
// it hashes what it reads until EOF; it returns the bytes read and their
// sha256.
func duplexStream(c checkstream.HalfCloser, size int64) (int64, string, error) {
	n, sum, err := checkstream.Duplex(c, size)
	return n, hex.EncodeToString(sum[:]), err
}

// TestLANWithGVisor: our stack and a gVisor stack (package netstack) on
// two ports of the virtual LAN (package lan), both in this process: our
// client to gVisor's listener and gVisor's client to ours, the stream
// both ways at once, sha256-checked on both sides. gVisor's TCP is a
// second, independent implementation to agree with.
func TestLANWithGVisor(t *testing.T) {
	sw := lan.New(lan.Options{})
	defer sw.Close()
	pa, err := sw.AttachPipe("ours", "camera")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := sw.AttachPipe("gvisor", "processor")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(pa, Config{MAC: macA, IPv4: netip.MustParsePrefix("10.50.0.1/24"), IPv6: netip.MustParsePrefix("fd00:50::1/64"),
		Hold: 4, TCP: tcp.Config{Conns: 4, MSL: int64(50 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	ns, err := netstack.New(netstack.Config{MAC: [6]byte{2, 0, 0, 0, 0x50, 2}}, netstack.NICDevice(pb, false))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	ns.Start()
	if _, err := ns.Request(ctx, netstack.SetAddrs{Addrs: []netip.Prefix{netip.MustParsePrefix("10.50.0.2/24"),
		netip.MustParsePrefix("fd00:50::2/64")}}); err != nil {
		t.Fatal(err)
	}
	size := kernelSize / 8
	want := streamSum(size)
	for _, fam := range []struct{ name, ours, theirs string }{{"v4", "10.50.0.1", "10.50.0.2"}, {"v6", "fd00:50::1", "fd00:50::2"}} {
		t.Run(fam.name+"/ours dials", func(t *testing.T) {
			l, err := ns.ListenTCP(netip.AddrPortFrom(netip.MustParseAddr(fam.theirs), 7000), 4)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			res := checkstream.AcceptDuplex(ctx, l, size)
			app := tcptest.NewStreamApp(size, 1<<20)
			start := time.Now()
			var derr error
			s.Do(ctx, func() {
				var c *tcp.Conn
				if c, derr = s.Dial(42000, netip.AddrPortFrom(netip.MustParseAddr(fam.theirs), 7000), app.App()); derr == nil {
					c.Push(int(size))
				}
			})
			if derr != nil {
				t.Fatal(derr)
			}
			r := <-res
			select {
			case <-app.Done:
			case <-ctx.Done():
				t.Fatal("our side did not finish")
			}
			if gsum := hex.EncodeToString(r.Sum[:]); r.Err != nil || r.N != size || gsum != want || app.Sum() != want || app.Err != nil {
				t.Errorf("gVisor read %d (%v), sum ok %v; we read %d (%v), sum ok %v", r.N, r.Err, gsum == want, app.Consumed, app.Err, app.Sum() == want)
			}
			t.Logf("%d MiB each way in %v; ours %+v", size>>20, time.Since(start).Round(time.Millisecond), app.Info)
		})
		t.Run(fam.name+"/gVisor dials", func(t *testing.T) {
			app := tcptest.NewStreamApp(size, 1<<20)
			port := uint16(7100)
			if fam.name == "v6" {
				port++
			}
			var lerr error
			s.Do(ctx, func() {
				lerr = s.Table().Listen(tcp.Listener{Port: port, Quota: 1, Accept: func(l, r netip.AddrPort) (tcp.App, bool) { return app.App(), true }})
			})
			if lerr != nil {
				t.Fatal(lerr)
			}
			c, err := ns.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(netip.MustParseAddr(fam.ours), port))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			n, sum, err := duplexStream(c, size)
			select {
			case <-app.Done:
			case <-ctx.Done():
				t.Fatal("our side did not finish")
			}
			if err != nil || n != size || sum != want || app.Sum() != want || app.Err != nil {
				t.Errorf("gVisor read %d (%v), sum ok %v; we read %d (%v), sum ok %v", n, err, sum == want, app.Consumed, app.Err, app.Sum() == want)
			}
		})
	}
	var _ net.Conn = (*netstack.Conn)(nil)
}
