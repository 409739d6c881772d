package netstack

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// faultPipe wraps a PipeEnd with the mirage-tcpip style injectors: random
// loss, loss of pure ACKs only, reordering (a packet held back behind the
// next one) and an outage (every packet dropped for a while after a
// number of bytes, like mirage's one-second outage after 1 MB). Loss and
// reordering are deterministic (a seeded PRNG); the outage is timed.
type faultPipe struct {
	*PipeEnd
	faultCfg

	mu        sync.Mutex
	rng       *rand.Rand
	held      *stack.PacketBuffer
	sent      int
	outageEnd time.Time
	dropped   atomic.Uint64
}

// faultCfg says which faults a faultPipe injects.
type faultCfg struct {
	loss, ackLoss, reorder float64 // probabilities
	outageAfter            int     // bytes sent before the outage starts (0: none)
	outageFor              time.Duration
}

func (f *faultPipe) send(pkts []*stack.PacketBuffer) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, pkt := range pkts {
		f.sent += pkt.Size()
		if f.outageAfter > 0 && f.sent > f.outageAfter {
			if f.outageEnd.IsZero() {
				f.outageEnd = time.Now().Add(f.outageFor)
			}
			if time.Now().Before(f.outageEnd) {
				f.dropped.Add(1)
				continue
			}
		}
		if f.rng.Float64() < f.loss || f.ackLoss > 0 && pureACK(pkt) && f.rng.Float64() < f.ackLoss {
			f.dropped.Add(1)
			continue
		}
		if f.held == nil && f.rng.Float64() < f.reorder {
			f.held = pkt.IncRef()
			continue
		}
		if _, err := f.PipeEnd.send([]*stack.PacketBuffer{pkt}); err != nil {
			return i, err
		}
		if f.held != nil {
			_, err := f.PipeEnd.send([]*stack.PacketBuffer{f.held})
			f.held.DecRef()
			f.held = nil
			if err != nil {
				return i + 1, err
			}
		}
	}
	return len(pkts), nil
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
	// gVisor's RACK (Config.RACK) recovers from an outage two segments per
	// RTO (200 ms) on this zero-latency link (measured: 93 RTOs, 19 s, for
	// 190 lost segments; 2 RTOs, 0.6 s, with RACK off, the default). Its
	// cases use the seed's 16 KiB buffers (fewer segments in flight).
	small := Config{TCPSendBuffer: 16 << 10, TCPRecvBuffer: 16 << 10}
	smallRACK := small
	smallRACK.RACK = true
	tests := []struct {
		name string
		cfg  Config
		f    faultCfg
	}{
		{"loss 1%", Config{}, faultCfg{loss: 0.01}},
		{"ACK-only loss 20%", Config{}, faultCfg{ackLoss: 0.2}},
		{"reorder 3%", Config{}, faultCfg{reorder: 0.03}},
		{"outage 100ms after 256 KiB, 16 KiB buffers", small, faultCfg{outageAfter: 256 << 10, outageFor: 100 * time.Millisecond}},
		{"outage 1s after 256 KiB", Config{}, faultCfg{outageAfter: 256 << 10, outageFor: time.Second}},
		{"all at once", small, faultCfg{loss: 0.01, ackLoss: 0.05, reorder: 0.02, outageAfter: 512 << 10, outageFor: 100 * time.Millisecond}},
		{"loss 1%, RACK", Config{RACK: true}, faultCfg{loss: 0.01}},
		{"reorder 3%, RACK", Config{RACK: true}, faultCfg{reorder: 0.03}},
		{"outage 100ms after 256 KiB, 16 KiB buffers, RACK", smallRACK, faultCfg{outageAfter: 256 << 10, outageFor: 100 * time.Millisecond}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pa, pb := NewPipe(1500, 1024)
			fa := &faultPipe{PipeEnd: pa, faultCfg: tc.f, rng: rand.New(rand.NewPCG(uint64(i), 1))}
			fb := &faultPipe{PipeEnd: pb, faultCfg: tc.f, rng: rand.New(rand.NewPCG(uint64(i), 2))}
			fb.outageAfter = 0 // the outage hits the data direction only
			a := mustNew(t, tc.cfg, fa)
			b := mustNew(t, tc.cfg, fb)
			a.Start()
			b.Start()
			setAddr(t, a, addrA)
			setAddr(t, b, addrB)
			transfer(t, a, b, addrB, 100, 1<<20)
			if fa.dropped.Load()+fb.dropped.Load() == 0 && tc.f.reorder == 0 {
				t.Fatal("injector dropped nothing")
			}
			st := a.Stack().Stats().TCP
			t.Logf("dropped %d+%d packets, retransmits %d (timeouts %d, slow-start %d, fast %d, TLP %d, spurious RTO %d)",
				fa.dropped.Load(), fb.dropped.Load(), st.Retransmits.Value(), st.Timeouts.Value(),
				st.SlowStartRetransmits.Value(), st.FastRetransmit.Value(), st.TLPRecovery.Value(), st.SpuriousRTORecovery.Value())
		})
	}
}
