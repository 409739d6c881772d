package lan

import (
	"fmt"
	"testing"
	"time"

	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

var benchSizes = []int{64, 1500}

func reportRate(b *testing.B, frames int, size int) {
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(frames)/sec/1e6, "Mframes/s")
	b.ReportMetric(float64(frames)*float64(size)*8/sec/1e9, "Gbit/s")
}

// BenchmarkMemForward: frames/s through the switch between two in-process
// ports, sender and receiver in one goroutine, 64 frames per call (one
// core's forwarding rate, no drops).
func BenchmarkMemForward(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s := New(Options{})
			defer s.Close()
			l := newLockstep(b, s, size, 64)
			b.SetBytes(int64(size) * 64)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				l.step(b)
			}
			reportRate(b, b.N*64, size)
		})
	}
}

// BenchmarkPipeBaseline: the same lockstep over a bare nic.Pipe (a cable,
// no switch): the baseline for BenchmarkMemForward.
func BenchmarkPipeBaseline(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			x, y := nic.NewPipe(1500, 256)
			defer x.Close()
			frames := make([][]byte, 64)
			bufs, sizes := make([][]byte, 64), make([]int, 64)
			for i := range frames {
				frames[i] = eth(macB, macA, 0x0800, nil, size)
				bufs[i] = make([]byte, 1514)
			}
			b.SetBytes(int64(size) * 64)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := x.Send(frames); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < 64; {
					n, err := y.Recv(bufs, sizes)
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
			}
			reportRate(b, b.N*64, size)
		})
	}
}

// BenchmarkMemParallel: a sender goroutine and a receiver goroutine on two
// in-process ports; reports the delivered rate and the share dropped
// because the receiver's queue was full.
func BenchmarkMemParallel(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s := New(Options{QueueDepth: 1024})
			defer s.Close()
			l := newLockstep(b, s, size, 64)
			b.SetBytes(int64(size) * 64)
			b.ReportAllocs()
			done := make(chan int)
			go func() {
				got := 0
				for {
					n, err := l.b.Recv(l.bufs, l.sizes)
					got += n
					if err != nil {
						done <- got
						return
					}
				}
			}()
			b.ResetTimer()
			for range b.N {
				if _, err := l.a.Send(l.frames); err != nil {
					b.Fatal(err)
				}
			}
			// Let the receiver drain, then stop it.
			for {
				st, _ := s.Port("b")
				if st.Queued == 0 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			l.b.Close()
			got := <-done
			st := s.Ports()
			var full uint64
			for _, p := range st {
				full += p.TxDrops[ReasonQueueFull]
			}
			reportRate(b, got, size)
			b.ReportMetric(float64(full)/float64(b.N*64)*100, "%dropped")
		})
	}
}

// BenchmarkNICForward: frames/s between two NIC-backed ports (nic.Pipe
// cables, the switch's reader and writer goroutines in between).
func BenchmarkNICForward(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s := New(Options{})
			defer s.Close()
			var far []nic.NIC
			for _, name := range []string{"p", "q"} {
				x, y := nic.NewPipe(1500, 256)
				if err := s.Attach(y, pc(name, "t")); err != nil {
					b.Fatal(err)
				}
				far = append(far, x)
			}
			defer far[0].Close()
			defer far[1].Close()
			macP, macQ := wire.LocalMAC(0x70), wire.LocalMAC(0x71)
			if _, err := far[1].Send([][]byte{eth(bcast, macQ, 0x88b5, nil, 60)}); err != nil {
				b.Fatal(err)
			}
			bufs, sizes := make([][]byte, 64), make([]int, 64)
			frames := make([][]byte, 64)
			for i := range bufs {
				bufs[i] = make([]byte, 1514)
				frames[i] = eth(macQ, macP, 0x88b5, nil, size)
			}
			if _, err := far[0].Recv(bufs, sizes); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size) * 64)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := far[0].Send(frames); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < 64; {
					n, err := far[1].Recv(bufs, sizes)
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
			}
			reportRate(b, b.N*64, size)
		})
	}
}
