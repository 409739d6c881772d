package netstack

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// faultPipe wraps a PipeEnd with the mirage-tcpip style injectors: random
// loss, loss of pure ACKs only, reordering (a packet held back behind the
// next one) and an outage (every packet dropped for a while after a
// number of bytes). Deterministic: a seeded PRNG and packet counts, no
// timers.
type faultPipe struct {
	*PipeEnd
	loss, ackLoss, reorder float64 // probabilities
	outageAfter            int     // bytes sent before the outage starts (0: none)
	outagePkts             int     // packets dropped by the outage

	mu      sync.Mutex
	rng     *rand.Rand
	held    *stack.PacketBuffer
	sent    int
	outage  int
	dropped atomic.Uint64
}

func (f *faultPipe) send(pkts []*stack.PacketBuffer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, pkt := range pkts {
		f.sent += pkt.Size()
		if f.outageAfter > 0 && f.sent > f.outageAfter && f.outage < f.outagePkts {
			f.outage++
			f.dropped.Add(1)
			continue
		}
		if f.rng.Float64() < f.loss || f.ackLoss > 0 && pureACK(pkt) && f.rng.Float64() < f.ackLoss {
			f.dropped.Add(1)
			continue
		}
		if f.held == nil && f.rng.Float64() < f.reorder {
			f.held = pkt.IncRef()
			continue
		}
		if err := f.PipeEnd.send([]*stack.PacketBuffer{pkt}); err != nil {
			return err
		}
		if f.held != nil {
			err := f.PipeEnd.send([]*stack.PacketBuffer{f.held})
			f.held.DecRef()
			f.held = nil
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *faultPipe) close() error {
	f.mu.Lock()
	if f.held != nil {
		f.held.DecRef()
		f.held = nil
	}
	f.mu.Unlock()
	return f.PipeEnd.close()
}

// pureACK reports whether an IPv4 packet is a TCP segment without data.
func pureACK(pkt *stack.PacketBuffer) bool {
	b := pkt.ToView()
	defer b.Release()
	ip := header.IPv4(b.AsSlice())
	if !ip.IsValid(len(ip)) || ip.TransportProtocol() != header.TCPProtocolNumber {
		return false
	}
	tcp := header.TCP(ip.Payload())
	return len(tcp) >= header.TCPMinimumSize && len(tcp) == int(tcp.DataOffset())
}

func TestFaultTolerancePipe(t *testing.T) {
	tests := []struct {
		name string
		f    faultPipe
	}{
		{"loss 1%", faultPipe{loss: 0.01}},
		{"ACK-only loss 20%", faultPipe{ackLoss: 0.2}},
		{"reorder 3%", faultPipe{reorder: 0.03}},
		{"outage 300 packets after 256 KiB", faultPipe{outageAfter: 256 << 10, outagePkts: 300}},
		{"all at once", faultPipe{loss: 0.01, ackLoss: 0.05, reorder: 0.02, outageAfter: 512 << 10, outagePkts: 100}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pa, pb := NewPipe(1500, 1024)
			fa, fb := tc.f, tc.f
			fa.PipeEnd, fb.PipeEnd = pa, pb
			fa.rng = rand.New(rand.NewPCG(uint64(i), 1))
			fb.rng = rand.New(rand.NewPCG(uint64(i), 2))
			fb.outageAfter = 0 // the outage hits the data direction only
			a := mustNew(t, Config{}, &fa)
			b := mustNew(t, Config{}, &fb)
			a.Start()
			b.Start()
			setAddr(t, a, addrA)
			setAddr(t, b, addrB)
			transfer(t, a, b, addrB, 100, 1<<20)
			if fa.dropped.Load()+fb.dropped.Load() == 0 && tc.f.reorder == 0 {
				t.Fatal("injector dropped nothing")
			}
			t.Logf("dropped %d+%d packets, retransmits %d", fa.dropped.Load(), fb.dropped.Load(),
				a.Stack().Stats().TCP.Retransmits.Value())
		})
	}
}
