package apidswitch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/policy"
	"spacenet/apid/sysmsg"
)

// readAll reads a closed tap to its end.
func readAll(t *testing.T, tp *Tap) ([]TapRecord, TapStats) {
	t.Helper()
	var out []TapRecord
	buf := make([]TapRecord, 7) // smaller than what the taps hold: several reads
	for {
		n, st, err := tp.Read(buf, nil)
		out = append(out, buf[:n]...)
		if errors.Is(err, ErrTapClosed) {
			return out, st
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// dialPair connects camera and processor to sw, closed at the test's end.
func dialPair(t *testing.T, sw *Switch) (cam, proc *guest.Conn) {
	t.Helper()
	var err error
	if cam, err = guest.Dial(sw.SocketPath("camera")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	if proc, err = guest.Dial(sw.SocketPath("processor")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Close() })
	return cam, proc
}

// seqFrame is camera's i-th data frame to processor: its payload is i.
func seqFrame(t testing.TB, i int) frame.Frame {
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], uint32(i))
	return mkFrame(t, frame.TM, 0x010, 0x020, string(p[:]))
}

// tapPattern is what TestTapExact sends: camera writes tapData frames to
// processor (who reads them), tapRefused to 0x100 (Not_permitted: an ERROR
// each), then a HEALTH request, and reads the ERRORs and the reply.
const (
	tapData    = 50
	tapRefused = 3
)

func playTapPattern(t *testing.T, cam, proc *guest.Conn) {
	t.Helper()
	var fs []frame.Frame
	for i := range tapData {
		fs = append(fs, seqFrame(t, i))
	}
	for range tapRefused {
		fs = append(fs, mkFrame(t, frame.TC, 0x010, 0x100, "no"))
	}
	if err := cam.WriteFrames(fs); err != nil {
		t.Fatal(err)
	}
	for i := range tapData {
		if f := readFrame(t, proc); f != fs[i] {
			t.Fatalf("processor's frame %d differs", i)
		}
	}
	if got := barrier(t, cam, 0x010); len(got) != tapRefused {
		t.Fatalf("camera read %d frames before its HEALTH reply, want %d ERRORs", len(got), tapRefused)
	}
}

// TestTapExact: taps with different filters, open during one known pattern
// on a running switch, each hold exactly the frames their filter selects,
// byte for byte and in order; a tap too small for them keeps the first ones
// and counts the rest dropped (Passed = Delivered + Dropped). The taps are
// read after the switch stopped: every frame has then been offered.
func TestTapExact(t *testing.T) {
	sw, err := New(Config{Policy: restricted(), SocketDir: t.TempDir() + "/s", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSwitch(t, sw)
	open := func(f TapFilter, capacity int) *Tap {
		tp, err := sw.Tap(f, capacity)
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	all := open(TapFilter{}, 1024)
	camTap := open(TapFilter{Tenants: []string{"camera"}}, 1024)
	small := open(TapFilter{Tenants: []string{"camera"}}, 4)
	refused := open(TapFilter{APIDs: []policy.Range{{First: 0x100, Last: 0x100}}, In: true}, 1024)
	if _, err := sw.Tap(TapFilter{}, 1); !errors.Is(err, ErrTapsBusy) {
		t.Fatalf("fifth tap: %v, want ErrTapsBusy", err)
	}
	for _, c := range []int{0, MaxTapCapacity + 1} {
		if _, err := sw.Tap(TapFilter{}, c); err == nil {
			t.Errorf("capacity %d accepted", c)
		}
	}

	cam, proc := dialPair(t, sw)
	playTapPattern(t, cam, proc)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	var data, refusedIn, errs []frame.Frame
	for i := range tapData {
		data = append(data, seqFrame(t, i))
	}
	for range tapRefused {
		f := mkFrame(t, frame.TC, 0x010, 0x100, "no")
		refusedIn = append(refusedIn, f)
		errs = append(errs, errorFrame(frame.NotPermitted, &f))
	}
	health := mkFrame(t, frame.Health, 0x010, sysmsg.APIDHealth, "")
	camIn := append(append(append([]frame.Frame{}, data...), refusedIn...), health)

	type want struct {
		peer     string
		out      bool
		frames   []frame.Frame // nil: check the count only
		count    int
		typeLast frame.Type
	}
	check := func(name string, tp *Tap, wants []want, dropped uint64) {
		t.Helper()
		tp.Close()
		recs, st := readAll(t, tp)
		total := 0
		for _, w := range wants {
			var got []TapRecord
			for _, r := range recs {
				if r.Tenant == w.peer && r.Out == w.out {
					got = append(got, r)
				}
			}
			total += len(got)
			if len(got) != w.count {
				t.Errorf("%s: %s out=%v: %d records, want %d", name, w.peer, w.out, len(got), w.count)
				continue
			}
			for i, f := range w.frames {
				if got[i].Frame != f {
					t.Errorf("%s: %s out=%v record %d: %v %v>%v, want %v %v>%v", name, w.peer, w.out, i,
						got[i].Frame.Type(), got[i].Frame.APID(), got[i].Frame.Dest(), f.Type(), f.APID(), f.Dest())
				}
			}
			if w.typeLast != 0 && got[len(got)-1].Frame.Type() != w.typeLast {
				t.Errorf("%s: %s out=%v: last record a %v, want %v", name, w.peer, w.out, got[len(got)-1].Frame.Type(), w.typeLast)
			}
			for _, r := range got {
				if r.Time.IsZero() {
					t.Errorf("%s: a record without its time", name)
				}
			}
		}
		if total != len(recs) {
			t.Errorf("%s: %d records, %d of them expected", name, len(recs), total)
		}
		wantSt := TapStats{Passed: uint64(len(recs)) + dropped, Delivered: uint64(len(recs)), Dropped: dropped}
		if st != wantSt {
			t.Errorf("%s: stats %+v, want %+v", name, st, wantSt)
		}
	}
	camOut := want{"camera", true, errs, tapRefused + 1, frame.Health}
	check("all", all, []want{
		{"camera", false, camIn, len(camIn), 0},
		camOut,
		{"processor", true, data, tapData, 0},
	}, 0)
	check("camera", camTap, []want{{"camera", false, camIn, len(camIn), 0}, camOut}, 0)
	check("small", small, []want{{"camera", false, camIn[:4], 4, 0}}, uint64(len(camIn)+tapRefused+1-4))
	check("to 0x100, in", refused, []want{{"camera", false, refusedIn, tapRefused, 0}}, 0)

	// Closed taps left the switch: a new one may open.
	tp, err := sw.Tap(TapFilter{}, 1)
	if err != nil {
		t.Fatalf("tap after the others closed: %v", err)
	}
	tp.Close()
	if p := sw.taps.cur.Load(); p != nil {
		t.Errorf("%d taps still open", len(*p))
	}
}

// TestTapLossyReader: a reader that takes records while the traffic flows,
// through a ring of 8, gets some frames and misses others, but every frame
// is accounted for: delivered + dropped = passed = the frames sent, and the
// frames delivered are in the order they were sent. No sleep: the reader
// ends when the tap, closed after the switch stopped, is read to its end.
func TestTapLossyReader(t *testing.T) {
	sw, err := New(Config{Policy: restricted(), SocketDir: t.TempDir() + "/s", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSwitch(t, sw)
	tp, err := sw.Tap(TapFilter{Tenants: []string{"camera"}, In: true}, 8)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		seqs []uint32
		st   TapStats
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		buf := make([]TapRecord, 3)
		for {
			n, st, err := tp.Read(buf, nil)
			for _, r := range buf[:n] {
				res.seqs = append(res.seqs, binary.BigEndian.Uint32(r.Frame.Payload()))
			}
			if err != nil {
				res.st = st
				if !errors.Is(err, ErrTapClosed) {
					res.err = err
				}
				done <- res
				return
			}
		}
	}()
	cam, proc := dialPair(t, sw)
	const total = 5000
	go func() {
		fs := make([]frame.Frame, 50)
		for i := 0; i < total; i += len(fs) {
			for j := range fs {
				fs[j] = seqFrame(t, i+j)
			}
			if cam.WriteFrames(fs) != nil {
				return
			}
		}
	}()
	fs := make([]frame.Frame, 64)
	for got := 0; got < total; {
		n, err := proc.ReadFrames(fs)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	tp.Close()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	st := res.st
	if st.Passed != total || st.Delivered+st.Dropped != total || st.Delivered != uint64(len(res.seqs)) {
		t.Fatalf("stats %+v with %d records read, want passed = delivered + dropped = %d", st, len(res.seqs), total)
	}
	for i := 1; i < len(res.seqs); i++ {
		if res.seqs[i] <= res.seqs[i-1] {
			t.Fatalf("record %d is frame %d after frame %d", i, res.seqs[i], res.seqs[i-1])
		}
	}
	t.Logf("%d delivered, %d dropped", st.Delivered, st.Dropped)
}

// TestTapReadStop: Read returns at once when stop closes, with no record.
func TestTapReadStop(t *testing.T) {
	sw, err := New(Config{Policy: restricted(), SocketDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := sw.Tap(TapFilter{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	stop := make(chan struct{})
	close(stop)
	if n, st, err := tp.Read(make([]TapRecord, 1), stop); n != 0 || err != nil || st != (TapStats{}) {
		t.Errorf("Read after stop: %d %+v %v", n, st, err)
	}
}

// TestTapPathAllocs: the forwarding path allocates nothing with no tap
// open, nor with one open that records some frames and drops the others.
func TestTapPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race")
	}
	for _, capacity := range []int{0, 1 << 14} {
		t.Run(fmt.Sprint("tap", capacity), func(t *testing.T) {
			fx := newRouteFixture(t)
			b := batchOf(t, 64, nil)
			var tp *Tap
			if capacity > 0 {
				var err error
				if tp, err = fx.sw.Tap(TapFilter{}, capacity); err != nil {
					t.Fatal(err)
				}
				defer tp.Close()
			}
			allocs := testing.AllocsPerRun(200, func() {
				fx.r.process(b)
				fx.drain(fx.proc)
			})
			if allocs != 0 {
				t.Errorf("%v allocations per batch of 64 frames, want 0", allocs)
			}
			if tp != nil {
				// 201 batches, each seen coming in from camera and going out to processor.
				if st := tp.Stats(); st.Passed != 2*201*64 || st.Dropped != st.Passed-1<<14 {
					t.Errorf("tap %+v", st)
				}
			}
		})
	}
	t.Run("direct", func(t *testing.T) {
		fx := newRouteFixture(t)
		fx.sinkProc()
		tp, err := fx.sw.Tap(TapFilter{Tenants: []string{"processor"}}, 16)
		if err != nil {
			t.Fatal(err)
		}
		defer tp.Close()
		b := batchOf(t, 64, nil)
		if a := testing.AllocsPerRun(200, func() { fx.r.process(b) }); a != 0 {
			t.Errorf("%v allocations per batch, want 0", a)
		}
		if st := tp.Stats(); st.Passed != 201*64 || st.Dropped != 201*64-16 {
			t.Errorf("tap %+v", st)
		}
	})
}

// BenchmarkRouteDirectTapped is BenchmarkRouteDirect with a monitor
// open on every frame both ways, its reader taking the records as they
// come (what a frame costs the switch while someone watches).
func BenchmarkRouteDirectTapped(b *testing.B) {
	fx := newRouteFixture(b)
	fx.sinkProc()
	tp, err := fx.sw.Tap(TapFilter{}, 4096)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		recs := make([]TapRecord, 256)
		for {
			if _, _, err := tp.Read(recs, nil); err != nil {
				return
			}
		}
	}()
	batch := batchOf(b, DefaultBatch, nil)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		fx.r.process(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*DefaultBatch), "ns/frame")
	tp.Close()
	<-done
	st := tp.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(max(1, st.Passed)), "dropped/passed")
}
