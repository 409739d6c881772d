package stack

import (
	"net/netip"
	"testing"

	"spacenet/internal/checkstream"
	"spacenet/ip/tcp"
	"spacenet/ip/tcp/tcptest"
	"spacenet/ip/wire"
)

// FuzzStackInput feeds arbitrary frames to a stack with a listener and
// an established connection: the receiving layer (decode, checksums, TCP,
// neighbour learning, the answering layer) must not panic, and every
// frame it queues must decode.
func FuzzStackInput(f *testing.F) {
	w := newBench(f)
	server := tcptest.NewStreamApp(0, 1<<16)
	w.b.tcp.Listen(tcp.Listener{Port: 80, Quota: 2, Accept: func(l, r netip.AddrPort) (tcp.App, bool) { return server.App(), true }})
	// Seeds: the frames of a connection's life.
	var seeds [][]byte
	w.drop = func(from *Stack, fr []byte) bool {
		seeds = append(seeds, append([]byte(nil), fr...))
		return false
	}
	c, _ := w.a.Dial(1000, netip.MustParseAddrPort("10.9.0.2:80"), tcp.App{Source: checkstream.Source{}, Sink: tcptest.NewRingSink(1 << 16), Grant: 1 << 16})
	w.step()
	c.Push(3000)
	w.step()
	c.Close()
	w.step()
	for _, s := range seeds {
		f.Add(s)
	}
	var pkt wire.Packet
	f.Fuzz(func(t *testing.T, frame []byte) {
		w := newBench(t)
		w.b.tcp.Listen(tcp.Listener{Port: 80, Quota: 2, Accept: func(l, r netip.AddrPort) (tcp.App, bool) {
			return tcptest.NewStreamApp(0, 1<<12).App(), true
		}})
		b := make([]byte, 1600)
		n := copy(b, frame)
		w.b.input(b, n, w.now)
		w.b.flush(w.now)
		for i := 0; i < w.b.txN; i++ {
			if err := wire.Decode(w.b.tx[i][:w.b.txLen[i]], &pkt); err != nil {
				t.Fatalf("queued a frame that does not decode: %v", err)
			}
		}
	})
}
