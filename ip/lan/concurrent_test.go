package lan

import (
	"sync"
	"testing"

	"spacenet/ip/wire"
)

// TestConcurrent: four in-process ports send to each other from their own
// goroutines while receivers drain; every frame forwarded is either
// received or counted as dropped, and the race detector sees no race.
func TestConcurrent(t *testing.T) {
	s := New(Options{QueueDepth: 64})
	defer s.Close()
	const n, rounds = 4, 200
	var ports []*MemNIC
	for i := range n {
		ports = append(ports, memPorts(t, s, pc(string('a'+rune(i)), "t"))[0])
	}
	received := make([]int, n)
	var rwg, swg sync.WaitGroup
	for i, p := range ports {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			bufs, sizes := make([][]byte, 16), make([]int, 16)
			for j := range bufs {
				bufs[j] = make([]byte, 1514)
			}
			for {
				k, err := p.Recv(bufs, sizes)
				received[i] += k
				if err != nil {
					return
				}
			}
		}()
	}
	for i, p := range ports {
		swg.Add(1)
		go func() {
			defer swg.Done()
			src, dst := wire.LocalMAC(uint32(i)), wire.LocalMAC(uint32((i+1)%n))
			batch := make([][]byte, 16)
			for j := range batch {
				batch[j] = eth(dst, src, 0x88b5, nil, 60+j)
			}
			for range rounds {
				if _, err := p.Send(batch); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	swg.Wait()
	waitFor(t, "queues to drain", func() bool {
		for _, st := range s.Ports() {
			if st.Queued > 0 {
				return false
			}
		}
		return true
	})
	stats := s.Ports()
	for _, p := range ports {
		p.Close()
	}
	rwg.Wait()
	var attempts, outcomes uint64
	for i, st := range stats {
		if st.RxFrames != rounds*16 {
			t.Errorf("%s: RxFrames %d; want %d", st.Name, st.RxFrames, rounds*16)
		}
		// Until a destination is learned its frames flood to n-1 ports.
		attempts += st.Forwarded()
		outcomes += st.TxFrames + st.TxDrops[ReasonQueueFull]
		if uint64(received[i]) != st.TxFrames {
			t.Errorf("%s: received %d; TxFrames %d", st.Name, received[i], st.TxFrames)
		}
	}
	if outcomes < attempts {
		t.Errorf("%d frames forwarded but only %d delivered or dropped", attempts, outcomes)
	}
	if flooded := outcomes - attempts; flooded%uint64(n-2) != 0 {
		t.Errorf("extra deliveries %d not a whole number of floods", flooded)
	}
}
