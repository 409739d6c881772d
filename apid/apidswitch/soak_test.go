package apidswitch

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/sysmsg"
)

// TestSoak: the three v0 tenants send flat out to each other (a fixed number
// of frames each, batches of 32), reading what comes to them at the same
// time. Afterwards every frame is accounted for exactly: per sender,
// sent = delivered + Host_busy drops (+ the barrier), the receivers got
// exactly the delivered frames, and every ERROR frame the switch queued was
// read.
func TestSoak(t *testing.T) {
	const perTenant = 307_200 // a multiple of batch
	const batch = 32
	h := startSwitch(t, Config{QueueLen: 256})
	type tn struct {
		name  string
		apid  frame.APID
		dests [2]frame.APID
	}
	tenants := []tn{
		{"camera", 0x010, [2]frame.APID{0x020, 0x100}},
		{"processor", 0x020, [2]frame.APID{0x010, 0x100}},
		{"spaceos", 0x100, [2]frame.APID{0x010, 0x020}},
	}
	guests := make([]*guest.Conn, len(tenants))
	for i, tt := range tenants {
		guests[i] = h.dial(tt.name)
	}
	// gotFrom[i][j]: data frames tenant i received from tenant j.
	var gotFrom [3][3]uint64
	var gotErrors, gotHealth [3]uint64
	index := map[frame.APID]int{0x010: 0, 0x020: 1, 0x100: 2}
	healthSeen := make([]chan struct{}, 3)
	var healthSent [3]uint64
	var readers sync.WaitGroup
	for i, g := range guests {
		healthSeen[i] = make(chan struct{}, 1)
		readers.Add(1)
		go func() {
			defer readers.Done()
			in := make([]frame.Frame, 256)
			g.SetReadDeadline(time.Now().Add(50 * time.Second))
			for {
				n, err := g.ReadFrames(in)
				for k := range in[:n] {
					f := &in[k]
					switch f.Type() {
					case frame.Error:
						gotErrors[i]++
					case frame.Health:
						gotHealth[i]++
						select {
						case healthSeen[i] <- struct{}{}:
						default:
						}
					default:
						gotFrom[i][index[f.APID()]]++
						if binary.BigEndian.Uint32(f.Payload()) >= perTenant {
							t.Errorf("bad payload %x", f[:16])
						}
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
	var writers sync.WaitGroup
	for i, g := range guests {
		writers.Add(1)
		go func() {
			defer writers.Done()
			out := make([]frame.Frame, batch)
			for sent := 0; sent < perTenant; sent += batch {
				for k := range out {
					var p [4]byte
					binary.BigEndian.PutUint32(p[:], uint32(sent+k))
					frame.Encode(&out[k], frame.TM, tenants[i].apid, tenants[i].dests[k%2], p[:])
				}
				if err := g.WriteFrames(out); err != nil {
					t.Errorf("%s: %v", tenants[i].name, err)
					return
				}
			}
		}()
	}
	writers.Wait()
	// The barrier: once a HEALTH reply arrives, every frame before its
	// request was routed. A reply is lost (counted) while the guest's queue
	// is full, so the request is repeated until one arrives.
	for i, g := range guests {
		var hf frame.Frame
		frame.Encode(&hf, frame.Health, tenants[i].apid, sysmsg.APIDHealth, nil)
		deadline := time.After(testTimeout)
	wait:
		for {
			g.WriteFrame(&hf)
			healthSent[i]++
			select {
			case <-healthSeen[i]:
				break wait
			case <-time.After(100 * time.Millisecond): // retry, not a synchronisation
			case <-deadline:
				t.Fatalf("%s: no HEALTH reply", tenants[i].name)
			}
		}
	}
	// Every frame is routed; wait for the queues to drain to the readers:
	// a guest's queue is empty once all its senders' frames are written.
	// Closing the write side ends each stream; the switch flushes what is
	// queued, then closes, and each reader ends at EOF.
	for _, g := range guests {
		g.CloseWrite()
	}
	readers.Wait()

	var delivered [3]uint64
	for i, tt := range tenants {
		c := h.counters(tt.name)
		if c.Received != perTenant+healthSent[i] {
			t.Errorf("%s: received %d, sent %d", tt.name, c.Received, perTenant+healthSent[i])
		}
		if c.DeliveredSystem != healthSent[i] || c.DeliveredGround != 0 {
			t.Errorf("%s: system %d ground %d", tt.name, c.DeliveredSystem, c.DeliveredGround)
		}
		var other uint64
		for code, n := range c.Dropped {
			if code != int(frame.HostBusy) {
				other += n
			}
		}
		if other != 0 || c.Queued != 0 {
			t.Errorf("%s: drops %v queued %d", tt.name, c.Dropped, c.Queued)
		}
		if c.Delivered+c.Dropped[frame.HostBusy] != perTenant {
			t.Errorf("%s: delivered %d + Host_busy %d != sent %d", tt.name, c.Delivered, c.Dropped[frame.HostBusy], perTenant)
		}
		delivered[i] = c.Delivered
		if c.NoticesQueued+c.NoticesLost != c.Dropped[frame.HostBusy]+healthSent[i] || c.NoticesDelivered != c.NoticesQueued {
			t.Errorf("%s: notices queued %d lost %d delivered %d, Host_busy %d", tt.name, c.NoticesQueued, c.NoticesLost, c.NoticesDelivered, c.Dropped[frame.HostBusy])
		}
		if gotErrors[i]+gotHealth[i] != c.NoticesDelivered {
			t.Errorf("%s: read %d ERROR + %d HEALTH, switch delivered %d", tt.name, gotErrors[i], gotHealth[i], c.NoticesDelivered)
		}
		t.Logf("%s: sent %d, delivered %d, Host_busy %d (ERRORs read %d, lost %d)", tt.name, perTenant, c.Delivered, c.Dropped[frame.HostBusy], gotErrors[i], c.NoticesLost)
	}
	for j := range tenants {
		var got uint64
		for i := range tenants {
			got += gotFrom[i][j]
		}
		if got != delivered[j] {
			t.Errorf("frames from %s read by the others: %d, switch delivered %d", tenants[j].name, got, delivered[j])
		}
	}
}
