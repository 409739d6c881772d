package stack

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"spacenet/internal/checkstream"
	"spacenet/ip/lan/fault"
	"spacenet/ip/nic"
	"spacenet/ip/tcp"
	"spacenet/ip/tcp/tcptest"
)

// TestRetransmitAfterSilence: once a connection is up, the peer goes
// silent (every frame we send is lost); our data must still be sent
// again at each RTO. The timer that Output arms must be one Run waits
// for (it was not: Run waited for the next frame instead). On
// synctest's fake clock.
func TestRetransmitAfterSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		na, nb := nic.NewPipe(1500, 64)
		lossy := fault.Wrap(na, fault.Config{Outages: []fault.Window{{Start: 2 * time.Second, Len: time.Hour}}}, 1)
		// Hold: the SYN waits for ARP instead of being lost (a lost SYN
		// would start data with a 3 s RTO, RFC 6298 5.7).
		cfg := Config{MAC: macA, IPv4: netip.MustParsePrefix("10.9.0.1/24"), TCP: tcp.Config{Conns: 2}, Hold: 2}
		a, err := New(lossy, cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg.MAC, cfg.IPv4 = macB, netip.MustParsePrefix("10.9.0.2/24")
		b, err := New(nb, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go a.Run(ctx)
		go b.Run(ctx)
		server := tcptest.NewStreamApp(0, 1<<16)
		client := tcp.App{Source: checkstream.Source{}, Sink: tcptest.NewRingSink(1 << 16), Grant: 1 << 16}
		b.Do(ctx, func() {
			b.Table().Listen(tcp.Listener{Port: 80, Quota: 1, Accept: func(l, r netip.AddrPort) (tcp.App, bool) { return server.App(), true }})
		})
		var conn *tcp.Conn
		a.Do(ctx, func() { conn, _ = a.Dial(1000, netip.MustParseAddrPort("10.9.0.2:80"), client) })
		time.Sleep(time.Second)
		synctest.Wait()
		var st tcp.State
		a.Do(ctx, func() { st = conn.State() })
		if st != tcp.Established && st != tcp.CloseWait {
			t.Fatalf("state %v after 1 s, want ESTABLISHED or CLOSE-WAIT", st)
		}
		time.Sleep(2 * time.Second) // the outage has begun
		a.Do(ctx, func() { conn.Push(100000) })
		time.Sleep(5 * time.Second)
		synctest.Wait()
		var info tcp.Info
		a.Do(ctx, func() { info = conn.Info() })
		// RTOs at about 0.2, 0.6, 1.4, 3.0 s after the push (200 ms
		// floor, doubling): at least 3 in 5 s.
		if info.RTOs < 3 || info.Retransmits < 3 {
			t.Errorf("after 5 s of silence: %d RTOs, %d retransmissions; want >= 3", info.RTOs, info.Retransmits)
		}
		cancel()
		synctest.Wait()
	})
}
