package tcp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"spacenet/ip/wire"
)

// transfer runs a whole connection: A dials B's listener, A sends size
// bytes and closes, B closes when it sees A's FIN. It returns the two
// applications after the fake clock has passed limit.
func transfer(t *testing.T, n *sim, size int64, grant int) (ca, cb *app) {
	t.Helper()
	ca, cb = &app{regrant: true, total: size, closeWhen: true}, &app{regrant: true}
	if err := n.b.Listen(Listener{Port: addrB.Port(), Quota: 2, Accept: func(l, r netip.AddrPort) (App, bool) {
		return cb.App(grant), true
	}}); err != nil {
		t.Fatal(err)
	}
	c, err := n.a.Dial(addrA, addrB, ca.App(grant), n.now)
	if err != nil {
		t.Fatal(err)
	}
	ca.conn = c
	c.Push(int(size))
	cb.onPeerClose = func(c *Conn) { c.Close() }
	n.run(n.now + 600*s)
	return ca, cb
}

func TestTransferClean(t *testing.T) {
	n := newSim(t, defaultConfig(), defaultConfig())
	const size = 1 << 20
	ca, cb := transfer(t, n, size, 64<<10)
	checkDone(t, n, ca, cb, size)
	if st := n.a.Stats(); st.Retransmits != 0 {
		t.Errorf("retransmits %d on a clean link", st.Retransmits)
	}
}

func checkDone(t *testing.T, n *sim, ca, cb *app, size int64) {
	t.Helper()
	if cb.sink.bad != 0 {
		t.Errorf("B received %d wrong bytes", cb.sink.bad)
	}
	if cb.granted != size {
		t.Errorf("B read %d bytes, want %d", cb.granted, size)
	}
	if ca.events[Gone] != 1 || cb.events[Gone] != 1 || ca.err != nil || cb.err != nil {
		t.Errorf("A gone %d err %v, B gone %d err %v", ca.events[Gone], ca.err, cb.events[Gone], cb.err)
	}
	if n.a.Conns() != 0 || n.b.Conns() != 0 {
		t.Errorf("slots in use after close: A %d B %d", n.a.Conns(), n.b.Conns())
	}
}

var _ = wire.TCPFlagACK

// TestTransferLossy loses a share of all segments (data and ACKs, both
// ways) at random, with a fixed seed: the stream arrives byte-exact and
// the losses show as retransmissions.
func TestTransferLossy(t *testing.T) {
	for _, loss := range []float64{0.01, 0.05, 0.15} {
		for _, sack := range []bool{true, false} {
			t.Run(fmt.Sprintf("loss%v/sack=%v", loss, sack), func(t *testing.T) {
				cfg := defaultConfig()
				cfg.NoSACK = !sack
				n := newSim(t, cfg, cfg)
				rng := rand.New(rand.NewPCG(1, uint64(loss*1000)))
				n.drop = func(from *Table, seg *Segment, i int) bool { return rng.Float64() < loss }
				const size = 1 << 20
				start := n.now
				ca, cb := transfer(t, n, size, 64<<10)
				checkDone(t, n, ca, cb, size)
				st := n.a.Stats()
				if st.Retransmits == 0 {
					t.Errorf("no retransmits with loss")
				}
				t.Logf("%+v, took %d ms (fake)", st, (n.now-start)/ms)
			})
		}
	}
}

// TestNoACKWar: both sides send at once and every pure ACK of the first
// flights is lost, so each side holds the other's data while its own
// is unacknowledged; both time out and go back to SND.UNA. A pure ACK
// sent with the go-back pointer lay below the peer's RCV.NXT: each side
// found the other's ACKs unacceptable (their ACK fields never processed)
// and answered them, an endless ACK war (633 320 unacceptable segments a
// side in one run of TestPipeTransfer under -race). Both streams must
// complete with a bounded number of segments.
func TestNoACKWar(t *testing.T) {
	n := newSim(t, defaultConfig(), defaultConfig())
	n.delay = ms
	lose := false
	n.drop = func(from *Table, seg *Segment, i int) bool {
		return lose && len(seg.Payload) == 0 && seg.Flags == wire.TCPFlagACK
	}
	const size = 16 * 1448
	ca, cb := &app{regrant: true, total: size, closeWhen: true}, &app{regrant: true, total: size, closeWhen: true}
	n.b.Listen(Listener{Port: addrB.Port(), Quota: 1, Accept: func(l, r netip.AddrPort) (App, bool) { return cb.App(1 << 20), true }})
	c, _ := n.a.Dial(addrA, addrB, ca.App(1<<20), n.now)
	for cb.conn == nil || c.State() != Established {
		n.step()
	}
	n.run(n.now + 10*ms) // quiet
	lose = true
	c.Push(size)
	cb.conn.Push(size)
	n.run(n.now + 100*ms) // the flights cross; their ACKs are lost
	lose = false
	sent := n.sent
	n.run(n.now + 300*s)
	if ca.granted != size || cb.granted != size || ca.events[Gone] != 1 || cb.events[Gone] != 1 {
		t.Errorf("A read %d, B read %d of %d each; A %v, B %v", ca.granted, cb.granted, size, c.State(), cb.conn.State())
	}
	if extra := n.sent - sent; extra > 500 {
		t.Errorf("%d segments after the loss for %d bytes each way: an ACK war", extra, size)
	}
	t.Logf("%d segments; A %+v", n.sent-sent, n.a.Stats())
}
