package apidswitch

import (
	"bytes"
	"slices"
	"testing"

	"spacenet/apid/frame"
	"spacenet/apid/policy"
	"spacenet/apid/sysmsg"
)

// newResyncFixture is a route fixture whose camera has policy resync set
// as given.
func newResyncFixture(t testing.TB, resync bool) *routeFixture {
	p := restricted()
	p.Tenants[0].Flow.Resync = resync
	return newRouteFixtureCfg(t, Config{Policy: p})
}

// feed hands stream to camera's reader in reads of at most chunk bytes, as
// readLoop does, then ends the stream. It returns the length of the
// partial frame left at the end (0 if a hunt took it).
func (fx *routeFixture) feed(stream []byte, chunk int) int {
	buf := make([]byte, DefaultBatch*frame.Size)
	rem := 0
	for len(stream) > 0 {
		n := copy(buf[rem:], stream[:min(chunk, len(stream))])
		stream = stream[n:]
		rem = fx.r.consume(buf, rem+n)
	}
	if rem > 0 && fx.r.endOfStream(rem) {
		return 0
	}
	return rem
}

// take returns the frames queued for t, as if its writer wrote them.
func (fx *routeFixture) take(t *tenant) []frame.Frame {
	var out []frame.Frame
	for {
		b := t.q.peek(len(fx.from))
		if b == nil {
			return out
		}
		for i := 0; i < len(b); i += frame.Size {
			out = append(out, frame.Frame(b[i:i+frame.Size]))
		}
		credit(fx.from[:t.q.commit(len(b), fx.from)], &t.notes)
	}
}

// cut is n bytes lost at offset at of the stream as written.
type cut struct{ at, n int }

// lossy is the stream of frames as a serial line that lost cuts delivers
// it, after prefix (bytes the line carried before the frames).
func lossy(prefix []byte, fs []frame.Frame, cuts ...cut) []byte {
	b := append([]byte{}, frameBytes(fs)...)
	for i := len(cuts) - 1; i >= 0; i-- { // from the end: offsets stay those written
		c := cuts[i]
		b = append(b[:c.at], b[c.at+c.n:]...)
	}
	return append(append([]byte{}, prefix...), b...)
}

// TestResyncExact: camera sends 12 frames (sequence numbers 0-11, to
// processor) over a stream that loses bytes at known offsets; what
// processor gets, what is refused, and how many bytes the reader skips are
// predicted exactly, and are the same whatever sizes the reads have.
func TestResyncExact(t *testing.T) {
	fs := seqFrames(12, 0x010, 0x020, 0)
	twoBad := slices.Clone(fs)
	twoBad[1].SetVersion(7)
	twoBad[2].SetVersion(7)
	oneBad := slices.Clone(fs)
	oneBad[1].SetVersion(7)
	f0 := fs[0]
	echo := errorFrame(frame.Malformed, &f0) // the switch's own frame, echoed back by a tty
	all := func(except ...uint32) []uint32 {
		var s []uint32
		for i := range uint32(12) {
			if !slices.Contains(except, i) {
				s = append(s, i)
			}
		}
		return s
	}
	tests := []struct {
		name     string
		resync   bool
		stream   []byte
		want     []uint32 // sequence numbers processor gets
		dropped  map[frame.ErrorCode]uint64
		skipped  uint64
		resyncs  uint64
		received uint64
		partial  int
	}{
		{name: "no loss", resync: true, stream: lossy(nil, fs), want: all(), received: 12},
		{
			// Frame 3 loses padding (delivered whole); the next cut
			// frame (4's tail, 5's head) is refused; the one after
			// starts the hunt, which finds frame 6 156 bytes on.
			name: "100 bytes of frame 3's padding", resync: true,
			stream: lossy(nil, fs, cut{3*256 + 50, 100}), want: all(4, 5),
			dropped: map[frame.ErrorCode]uint64{frame.UnknownVersion: 1}, skipped: 156, resyncs: 1, received: 11,
		},
		{
			name: "3 bytes of frame 2's header", resync: true,
			stream: lossy(nil, fs, cut{2 * 256, 3}), want: all(2, 3),
			dropped: map[frame.ErrorCode]uint64{frame.UnknownVersion: 1}, skipped: 253, resyncs: 1, received: 11,
		},
		{
			name: "two losses", resync: true,
			stream: lossy(nil, fs, cut{256 + 200, 10}, cut{7*256 + 20, 1}), want: all(2, 3, 8, 9),
			dropped: map[frame.ErrorCode]uint64{frame.UnknownVersion: 2}, skipped: 246 + 255, resyncs: 2, received: 10,
		},
		{
			// Bytes before the guest's first frame: 100 bytes of an
			// ERROR the switch wrote, echoed back (its APID is not
			// camera's); frame 0 is inside the refused cut frame.
			name: "echo before the first frame", resync: true,
			stream: lossy(echo[:100], fs), want: all(0),
			dropped: map[frame.ErrorCode]uint64{frame.APIDNotAllocated: 1}, skipped: 100, resyncs: 1, received: 12,
		},
		{
			name: "one bad frame on an aligned stream", resync: true,
			stream: lossy(nil, oneBad), want: all(1),
			dropped: map[frame.ErrorCode]uint64{frame.UnknownVersion: 1}, received: 12,
		},
		{
			// Two in a row look like misalignment: the second is
			// skipped, not refused (documented).
			name: "two bad frames on an aligned stream", resync: true,
			stream: lossy(nil, twoBad), want: all(1, 2),
			dropped: map[frame.ErrorCode]uint64{frame.UnknownVersion: 1}, skipped: 256, resyncs: 1, received: 11,
		},
		{
			// Without resync a lost byte misaligns the stream for good.
			name: "resync off", resync: false,
			stream: lossy(nil, fs, cut{3*256 + 50, 100}), want: all(4, 5, 6, 7, 8, 9, 10, 11),
			dropped: map[frame.ErrorCode]uint64{frame.UnknownVersion: 7}, received: 11, partial: 156,
		},
		{
			// A stream that ends while hunting: the rest is skipped.
			name: "ends while hunting", resync: true,
			stream: append(lossy(nil, fs[:2]), make([]byte, 600)...), want: []uint32{0, 1},
			dropped: map[frame.ErrorCode]uint64{frame.UnknownVersion: 1}, skipped: 600 - 256, resyncs: 1, received: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunk := range []int{len(tt.stream), 1, 7, 255, 256, 1000} {
				fx := newResyncFixture(t, tt.resync)
				partial := fx.feed(tt.stream, chunk)
				var got []uint32
				for _, f := range fx.take(fx.proc) {
					got = append(got, seqOf(&f))
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("reads of %d: processor got %v, want %v", chunk, got, tt.want)
				}
				var want Counters
				want.Received, want.Delivered = tt.received, uint64(len(tt.want))
				for code, n := range tt.dropped {
					want.Dropped[code] = n
				}
				want.SkippedBytes, want.Resyncs = tt.skipped, tt.resyncs
				var c Counters
				fx.cam.st.snapshot(&c)
				if c != want || partial != tt.partial {
					t.Errorf("reads of %d: camera %+v, partial %d;\nwant %+v, partial %d", chunk, c, partial, want, tt.partial)
				}
				// Every frame refused is answered; skipped bytes are not.
				notes := fx.take(fx.cam)
				if uint64(len(notes)) != c.DroppedTotal() {
					t.Errorf("reads of %d: %d ERRORs for %d refused", chunk, len(notes), c.DroppedTotal())
				}
				if got := uint64(len(tt.stream)); c.Received*frame.Size+c.SkippedBytes+uint64(partial) != got {
					t.Errorf("reads of %d: %d frames, %d skipped, %d partial do not add up to the %d bytes", chunk, c.Received, c.SkippedBytes, partial, got)
				}
			}
		})
	}
}

// TestResyncOverSocket: the same over a real socket of a running switch,
// a stream ending in a partial frame that the hunt takes; the counters in
// the switch's snapshot.
func TestResyncOverSocket(t *testing.T) {
	p := policy.Default()
	p.Tenants[0].Flow.Resync = true // camera
	h := startSwitch(t, Config{Policy: p})
	cam := h.dial("camera")
	proc := h.dial("processor")
	tap, err := h.sw.Tap(TapFilter{Tenants: []string{"camera"}, In: true}, 64)
	if err != nil {
		t.Fatal(err)
	}
	fs := seqFrames(12, 0x010, 0x020, 0)
	stream := lossy(nil, fs, cut{256 + 200, 10}, cut{7*256 + 20, 1})
	if _, err := cam.Write(stream); err != nil {
		t.Fatal(err)
	}
	if err := cam.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var got []uint32
	for range 8 {
		f := readFrame(t, proc)
		got = append(got, seqOf(&f))
	}
	if want := []uint32{0, 1, 4, 5, 6, 7, 10, 11}; !slices.Equal(got, want) {
		t.Fatalf("processor got %v, want %v", got, want)
	}
	for range 2 {
		if f := readFrame(t, cam); f.Type() != frame.Error {
			t.Fatalf("camera got %x, want an ERROR", f[:frame.HeaderSize])
		}
	}
	h.waitEvent("camera", sysmsg.Disconnected)
	c := h.counters("camera")
	if c.Received != 10 || c.Delivered != 8 || c.Dropped[frame.UnknownVersion] != 2 || c.DroppedTotal() != 2 || c.SkippedBytes != 501 || c.Resyncs != 2 {
		t.Errorf("camera counters %+v", c)
	}
	// A monitor sees the guest's bytes once: the frames of every batch as
	// read, none again after a cut. Before, the bytes after each cut were
	// recorded twice (20 records of a 3061-byte stream).
	tap.Close()
	recs, _ := readAll(t, tap)
	if max := (len(stream) + frame.Size - 1) / frame.Size; len(recs) > max {
		t.Errorf("the tap recorded %d frames of camera's %d bytes; at most %d", len(recs), len(stream), max)
	}
}

// TestResyncAllocs: hunting through a misaligned stream allocates
// nothing.
func TestResyncAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race")
	}
	fx := newResyncFixture(t, true)
	fs := seqFrames(12, 0x010, 0x020, 0)
	stream := lossy(nil, fs, cut{256 + 200, 10}, cut{7*256 + 20, 1})
	buf := make([]byte, DefaultBatch*frame.Size)
	allocs := testing.AllocsPerRun(200, func() {
		copy(buf, stream)
		if rem := fx.r.consume(buf, len(stream)); rem != 0 {
			t.Fatalf("rem %d", rem)
		}
		fx.drain(fx.proc)
		fx.drain(fx.cam)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per lossy stream, want 0", allocs)
	}
}

// FuzzResync feeds arbitrary bytes, in reads of arbitrary sizes, to a
// reader with resync on: every byte is in a frame received, a byte skipped
// or the partial frame at the end, and the counters balance.
func FuzzResync(f *testing.F) {
	fs := seqFrames(4, 0x010, 0x020, 0)
	f.Add(lossy(nil, fs, cut{300, 5}), uint16(7))
	f.Add(lossy([]byte{1, 2, 3}, fs), uint16(256))
	f.Add(bytes.Repeat([]byte{1, 0, 0, 0x10}, 200), uint16(1))
	fx := newResyncFixture(f, true)
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint16) {
		var before Counters
		fx.cam.st.snapshot(&before)
		partial := fx.feed(stream, max(int(chunk), 1))
		fx.drain(fx.proc)
		fx.drain(fx.cam)
		var c Counters
		fx.cam.st.snapshot(&c)
		frames, skipped := c.Received-before.Received, c.SkippedBytes-before.SkippedBytes
		if frames*frame.Size+skipped+uint64(partial) != uint64(len(stream)) || !c.Balanced() || partial >= frame.Size {
			t.Fatalf("%d bytes: %d frames, %d skipped, %d partial; %+v", len(stream), frames, skipped, partial, c)
		}
		fx.r.sync = frameSync{} // the next input is a new stream
	})
}

// BenchmarkConsume is BenchmarkRoute through the read path's entry point
// (consume), on an aligned stream with resync off.
func BenchmarkConsume(b *testing.B) {
	fx := newRouteFixture(b)
	batch := batchOf(b, DefaultBatch, nil)
	buf := make([]byte, len(batch))
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, batch)
		fx.r.consume(buf, len(buf))
		fx.drain(fx.proc)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*DefaultBatch), "ns/frame")
}
