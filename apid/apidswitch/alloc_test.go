package apidswitch

import (
	"testing"

	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/sysmsg"
)

// routeFixture is a switch that is not running and a reader for camera,
// to drive the forwarding path (route, queue, write-side commit) directly.
type routeFixture struct {
	sw        *Switch
	r         *reader
	cam, proc *tenant
	from      []*stats
}

func newRouteFixture(t testing.TB) *routeFixture {
	return newRouteFixtureCfg(t, Config{})
}

func newRouteFixtureCfg(t testing.TB, cfg Config) *routeFixture {
	if cfg.Policy == nil {
		cfg.Policy = restricted()
	}
	cfg.SocketDir, cfg.Logger = t.TempDir(), quietLogger()
	sw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := sw.state.Load()
	fx := &routeFixture{sw: sw, cam: st.tenants[0], proc: st.tenants[1], from: make([]*stats, DefaultBatch)}
	fx.r = newReader(&conn{sw: sw, t: fx.cam})
	return fx
}

// TestHeldPathAllocs: a batch four times what the destination's queue
// holds, so that the reader waits for room (flow control) again and again
// while another goroutine plays the destination's writer: no allocation.
func TestHeldPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race")
	}
	fx := newRouteFixtureCfg(t, Config{QueueLen: 16}) // 14 slots for tenants' frames
	b := batchOf(t, 64, nil)
	stop := make(chan struct{})
	done := make(chan struct{})
	q := fx.proc.q
	go func() { // the writer: drain what comes, as writeLoop does
		defer close(done)
		from := make([]*stats, 16)
		for {
			p := q.peek(len(from))
			if p == nil {
				select {
				case <-q.wake:
				case <-stop:
					return
				}
				continue
			}
			credit(from[:q.commit(len(p), from)], &fx.proc.notes)
		}
	}()
	allocs := testing.AllocsPerRun(200, func() { fx.r.process(b) })
	close(stop)
	<-done
	if allocs != 0 {
		t.Errorf("%v allocations per batch of 64 frames through a 14-frame queue, want 0", allocs)
	}
	var c Counters
	fx.cam.st.snapshot(&c)
	if !c.Balanced() || c.DroppedTotal() != 0 || c.Received != 201*64 {
		t.Errorf("camera %+v: want every frame of 201 batches carried", c)
	}
}

// drain plays the writer of t's queue: it takes everything queued as if
// written and credits the senders.
func (fx *routeFixture) drain(t *tenant) int {
	n := 0
	for {
		b := t.q.peek(len(fx.from))
		if b == nil {
			return n
		}
		k := t.q.commit(len(b), fx.from)
		credit(fx.from[:k], &t.notes)
		n += k
	}
}

func batchOf(t testing.TB, n int, edit func(i int, f *frame.Frame)) []byte {
	b := make([]byte, n*frame.Size)
	for i := range n {
		f := (*frame.Frame)(b[i*frame.Size : (i+1)*frame.Size])
		if err := frame.Encode(f, frame.TM, 0x010, 0x020, []byte("payload")); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(i, f)
		}
	}
	return b
}

func TestForwardingPathAllocs(t *testing.T) {
	fx := newRouteFixture(t)
	b := batchOf(t, 64, func(i int, f *frame.Frame) {
		switch i % 16 {
		case 1:
			f.SetDest(0x100) // Not_permitted: an ERROR back to camera
		case 2:
			f.SetType(frame.Health) // HEALTH request: a reply to camera
			f.SetDest(sysmsg.APIDHealth)
			f.SetPayloadLen(0)
		}
	})
	allocs := testing.AllocsPerRun(200, func() {
		fx.r.process(b)
		fx.drain(fx.proc)
		fx.drain(fx.cam)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per batch of 64 frames, want 0", allocs)
	}
	var c Counters
	fx.cam.st.snapshot(&c)
	if !c.Balanced() || c.Queued != 0 || c.Dropped[frame.NotPermitted] == 0 || c.DeliveredSystem == 0 {
		t.Errorf("counters %+v", c)
	}
}

// BenchmarkRoute measures the forwarding path per frame (route, copy into
// the destination's queue, commit and credit), without sockets; compare
// BenchmarkCopyBaseline, which only copies the same bytes.
func BenchmarkRoute(b *testing.B) {
	fx := newRouteFixture(b)
	batch := batchOf(b, DefaultBatch, nil)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		fx.r.process(batch)
		fx.drain(fx.proc)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*DefaultBatch), "ns/frame")
}

func BenchmarkCopyBaseline(b *testing.B) {
	batch := batchOf(b, DefaultBatch, nil)
	dst := make([]byte, len(batch))
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		copy(dst, batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*DefaultBatch), "ns/frame")
}

// sinkRaw is a syscall.RawConn whose writes always succeed at once: with it
// the direct path can be measured without the system call.
type sinkRaw struct{}

func (sinkRaw) Control(f func(fd uintptr)) error           { f(0); return nil }
func (sinkRaw) Read(f func(fd uintptr) (done bool)) error  { f(0); return nil }
func (sinkRaw) Write(f func(fd uintptr) (done bool)) error { f(0); return nil }

// sinkProc attaches to processor's queue a connection that takes every
// direct write whole.
func (fx *routeFixture) sinkProc() {
	c := &conn{sw: fx.sw, t: fx.proc, raw: sinkRaw{}}
	c.directFn = func(uintptr) bool { c.directN = len(c.directBuf); return true }
	fx.proc.q.attach(c)
}

// BenchmarkRouteDirect measures the direct path per frame (route, zero the
// padding, count, hand the run to a write that takes it all), without the
// system call itself.
func BenchmarkRouteDirect(b *testing.B) {
	fx := newRouteFixture(b)
	fx.sinkProc()
	batch := batchOf(b, DefaultBatch, nil)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		fx.r.process(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*DefaultBatch), "ns/frame")
}

func TestDirectPathAllocs(t *testing.T) {
	fx := newRouteFixture(t)
	fx.sinkProc()
	b := batchOf(t, 64, nil)
	if a := testing.AllocsPerRun(200, func() { fx.r.process(b) }); a != 0 {
		t.Errorf("%v allocations per batch, want 0", a)
	}
	var c Counters
	fx.cam.counters(&c)
	if c.Delivered != 201*64 || c.Queued != 0 || !c.Balanced() {
		t.Errorf("counters %+v", c)
	}
}

// TestRouteCache: a frame whose header differs from the previous one only
// in payload_length reuses the decision only while payload_length is valid.
func TestRouteCache(t *testing.T) {
	fx := newRouteFixture(t)
	b := batchOf(t, 4, func(i int, f *frame.Frame) {
		switch i {
		case 1:
			f.SetPayloadLen(249) // same key as frame 0, too large
		case 2:
			f.SetPayloadLen(248)
		case 3:
			f.SetAPID(0x020) // spoofed, right after a cached Local
		}
	})
	fx.r.process(b)
	var c Counters
	fx.cam.counters(&c)
	want := [NumReasons]uint64{frame.MessageTooLarge: 1, frame.APIDNotAllocated: 1}
	if c.Queued != 2 || c.Dropped != want {
		t.Errorf("queued %d dropped %v, want 2 %v", c.Queued, c.Dropped, want)
	}
}

// nopDownlink takes packets and counts them.
type nopDownlink struct{ n int }

func (d *nopDownlink) SendPacket([]byte) error { d.n++; return nil }

// TestGroundPathAllocs: frames to the ground, wrapped in each layout (cfs
// reads the clock), allocate nothing.
func TestGroundPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are counted without -race")
	}
	for _, l := range []ccsds.Layout{ccsds.Plain, ccsds.CFS, ccsds.Spacenet} {
		t.Run(l.String(), func(t *testing.T) {
			d := &nopDownlink{}
			p := restricted()
			p.Tenants[0].Downlink = true
			sw, err := New(Config{Policy: p, SocketDir: t.TempDir(), Logger: quietLogger(), Downlink: d, Layout: l})
			if err != nil {
				t.Fatal(err)
			}
			cam := sw.state.Load().tenants[0]
			r := newReader(&conn{sw: sw, t: cam})
			b := batchOf(t, 64, func(i int, f *frame.Frame) { f.SetDest(0x000) })
			if a := testing.AllocsPerRun(100, func() { r.process(b) }); a != 0 {
				t.Errorf("%v allocations per batch of 64 frames to the ground", a)
			}
			var c Counters
			cam.st.snapshot(&c)
			if c.DeliveredGround == 0 || uint64(d.n) != c.DeliveredGround || !c.Balanced() {
				t.Errorf("downlink took %d, counters %+v", d.n, c)
			}
		})
	}
}
