package stack

import (
	"net/netip"
	"testing"

	"spacenet/internal/checkstream"
	"spacenet/ip/nic"
	"spacenet/ip/tcp"
	"spacenet/ip/tcp/tcptest"
)

// stubNIC is a NIC that is never driven: the tests below move frames
// between stacks' send buffers and input by hand.
type stubNIC struct{}

func (stubNIC) Recv([][]byte, []int) (int, error) { return 0, nic.ErrClosed }
func (stubNIC) Send(f [][]byte) (int, error)      { return len(f), nil }
func (stubNIC) MTU() int                          { return 1500 }
func (stubNIC) Name() string                      { return "stub" }
func (stubNIC) Close() error                      { return nil }

// bench is two stacks joined by hand, without goroutines: step moves
// every queued frame from one to the other until both are quiet.
type bench struct {
	a, b *Stack
	now  int64
	drop func(from *Stack, frame []byte) bool
}

func newBench(t testing.TB) *bench { return newBenchWith(t, nil) }

func newBenchWith(t testing.TB, set func(*Config)) *bench {
	cfg := Config{MAC: macA, IPv4: netip.MustParsePrefix("10.9.0.1/24"), IPv6: netip.MustParsePrefix("fd00:9::1/64"),
		TCP: tcp.Config{Conns: 4}}
	if set != nil {
		set(&cfg)
	}
	a, err := New(stubNIC{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MAC, cfg.IPv4, cfg.IPv6 = macB, netip.MustParsePrefix("10.9.0.2/24"), netip.MustParsePrefix("fd00:9::2/64")
	b, err := New(stubNIC{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &bench{a: a, b: b, now: 1e9}
}

func (w *bench) step() {
	for moved := true; moved; {
		moved = false
		for _, p := range [2][2]*Stack{{w.a, w.b}, {w.b, w.a}} {
			from, to := p[0], p[1]
			from.tcp.Tick(w.now)
			from.neighTick(w.now)
			from.flush(w.now)
			n := from.txN
			from.txN = 0
			for i := 0; i < n; i++ {
				f := from.tx[i][:from.txLen[i]]
				moved = true
				if w.drop != nil && w.drop(from, f) {
					continue
				}
				to.input(f, len(f), w.now)
			}
		}
	}
}

// TestStackAllocsPerSegment: 0 allocations per segment through the
// whole stack (link, IP, TCP, checksums, neighbour cache), sending,
// receiving and retransmitting, IPv4 and IPv6.
func TestStackAllocsPerSegment(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, remote := range []string{"10.9.0.2:80", "[fd00:9::2]:80"} {
		t.Run(remote, func(t *testing.T) {
			w := newBench(t)
			server := tcptest.NewStreamApp(0, 1<<20)
			w.b.tcp.Listen(tcp.Listener{Port: 80, Quota: 1, Accept: func(l, r netip.AddrPort) (tcp.App, bool) { return server.App(), true }})
			client := tcp.App{Source: checkstream.Source{}, Sink: tcptest.NewRingSink(1 << 16), Grant: 1 << 16}
			c, err := w.a.Dial(1000, netip.MustParseAddrPort(remote), client)
			if err != nil {
				t.Fatal(err)
			}
			w.step()
			w.now += 1e6
			w.step() // after ARP/NDP: the held SYN went out
			if c.State() != tcp.Established && c.State() != tcp.CloseWait {
				t.Fatalf("state %v", c.State())
			}
			lose := false
			w.drop = func(from *Stack, f []byte) bool { return lose && from == w.a }
			for _, tc := range []struct {
				name string
				fn   func()
			}{
				{"send and receive", func() {
					c.Push(4 * 1448)
					w.now += 1e6
					w.step()
				}},
				{"retransmit", func() {
					c.Push(1448)
					lose = true
					w.step()
					lose = false
					w.now += c.Info().RTO
					w.step()
					w.now += tcp.DelayedACK
					w.step()
				}},
			} {
				before := c.Info()
				if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
					t.Errorf("%s: %v allocations per run", tc.name, n)
				}
				after := c.Info()
				t.Logf("%s: %d segments, %d retransmitted", tc.name, after.SegsOut-before.SegsOut, after.Retransmits-before.Retransmits)
			}
			if server.Consumed != c.Pushed() || c.Info().Retransmits == 0 {
				t.Errorf("server read %d of %d; %d retransmits", server.Consumed, c.Pushed(), c.Info().Retransmits)
			}
		})
	}
}

// BenchmarkStackSegment: one full-sized segment through two whole stacks
// (frames built, checksummed, decoded, verified), and its ACK.
func BenchmarkStackSegment(b *testing.B) {
	w := newBench(b)
	sink := &regrant{}
	w.b.tcp.Listen(tcp.Listener{Port: 80, Quota: 1, Accept: func(l, r netip.AddrPort) (tcp.App, bool) {
		return tcp.App{Source: checkstream.Source{}, Sink: sink, Grant: 1 << 20, Handler: sink}, true
	}})
	c, err := w.a.Dial(1000, netip.MustParseAddrPort("10.9.0.2:80"), tcp.App{Source: checkstream.Source{}, Sink: tcptest.NewRingSink(1 << 16), Grant: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	w.step()
	w.now += 1e6
	w.step()
	b.SetBytes(1448)
	b.ReportAllocs()
	for b.Loop() {
		c.Push(1448)
		w.now += 10000
		w.step()
	}
}

// regrant is a receiver that keeps nothing and grants back at once.
type regrant struct{ seen int64 }

func (r *regrant) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }
func (r *regrant) Event(c *tcp.Conn, ev tcp.Event) {
	if ev == tcp.Readable {
		c.Grant(int(c.Readable() - r.seen))
		r.seen = c.Readable()
	}
}
