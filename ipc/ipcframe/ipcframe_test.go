package ipcframe

import (
	"bytes"
	"testing"
	"time"

	"spacenet/frame"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func msgOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func TestHeaderBytes(t *testing.T) {
	fs, err := Append(nil, Request, 0x020, 0x010, 0x01020304, []byte{0xAA, 0xBB})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("%d frames", len(fs))
	}
	f := &fs[0]
	want := []byte{
		0x01, 0x01, 0x00, 0x20, 0x00, 16, 0x00, 0x10, // frame header: v1, TC, src, len 16, dest
		0xD1, 0x11, 1, 2, 3, 4, 0, 0, 0, 2, 0, 0, 0, 0, // IPC sub-header
		0xAA, 0xBB,
	}
	if !bytes.Equal(f[:len(want)], want) {
		t.Fatalf("bytes\n got % x\nwant % x", f[:len(want)], want)
	}
	if !bytes.Equal(f[len(want):], make([]byte, frame.Size-len(want))) {
		t.Fatal("padding not zero")
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	h, r := ParseHeader(f.Type(), f.Payload())
	if r != OK || h != (Header{Kind: Request, ID: 0x01020304, Total: 2}) {
		t.Fatalf("ParseHeader = %+v, %v", h, r)
	}
}

func TestSegments(t *testing.T) {
	for _, tc := range []struct{ n, frames int }{
		{0, 1}, {1, 1}, {MaxData, 1}, {MaxData + 1, 2}, {2 * MaxData, 2}, {65536 + 20, 281},
	} {
		if got := Segments(tc.n); got != tc.frames {
			t.Errorf("Segments(%d) = %d, want %d", tc.n, got, tc.frames)
		}
		fs, err := Append(nil, Reply, 0x010, 0x020, 9, msgOf(tc.n))
		if err != nil || len(fs) != tc.frames {
			t.Errorf("Append(%d): %d frames, %v", tc.n, len(fs), err)
		}
		for i := range fs {
			if fs[i].Type() != frame.TM {
				t.Errorf("reply frame type %v", fs[i].Type())
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 100, MaxData, MaxData + 1, 1000, 65536 + 30, 1 << 20} {
		r := NewReassembler(Limits{})
		msg := msgOf(n)
		fs, err := Append(nil, Request, 0x120, 0x011, 77, msg)
		if err != nil {
			t.Fatal(err)
		}
		for i := range fs {
			res := r.Add(&fs[i], t0)
			want := Partial
			switch {
			case len(fs) == 1 || i == len(fs)-1:
				want = Complete
			case i == 0:
				want = Started
			}
			if res.Status != want {
				t.Fatalf("n=%d frame %d: status %v reason %v, want %v", n, i, res.Status, res.Reason, want)
			}
			if want == Complete {
				if !bytes.Equal(res.Data, msg) {
					t.Fatalf("n=%d: message differs", n)
				}
				if res.Key != (Key{Src: 0x120, Dest: 0x011, Kind: Request, ID: 77}) {
					t.Fatalf("key %+v", res.Key)
				}
			}
		}
		st := r.Stats()
		if st.Complete != 1 || st.Partial != 0 || st.Buffered != 0 {
			t.Fatalf("n=%d stats %+v", n, st)
		}
	}
}

// mk builds one IPC frame by hand.
func mk(t frame.Type, src frame.APID, h Header, data []byte, magic byte) frame.Frame {
	var f frame.Frame
	p := make([]byte, HeaderSize+len(data))
	h.Put(p)
	p[0] = magic
	copy(p[HeaderSize:], data)
	if err := frame.Encode(&f, t, src, 0x010, p); err != nil {
		panic(err)
	}
	return f
}

func TestRefusals(t *testing.T) {
	d := msgOf(10)
	short := frame.Frame{}
	_ = frame.Encode(&short, frame.TC, 0x20, 0x10, []byte{Magic, 0x11, 0})
	badVer := mk(frame.TC, 0x20, Header{Kind: Request, Total: 10}, d, Magic)
	badVer[frame.HeaderSize+1] = 0x21
	for _, tc := range []struct {
		name string
		f    frame.Frame
		want Reason
	}{
		{"not ipc", mk(frame.TC, 0x20, Header{Kind: Request, Total: 10}, d, 0x00), NotIPC},
		{"short", short, BadHeader},
		{"version", badVer, BadHeader},
		{"kind 0", mk(frame.TC, 0x20, Header{Kind: 0, Total: 10}, d, Magic), BadHeader},
		{"kind 4", mk(frame.TM, 0x20, Header{Kind: 4, Total: 10}, d, Magic), BadHeader},
		{"request in TM", mk(frame.TM, 0x20, Header{Kind: Request, Total: 10}, d, Magic), WrongType},
		{"reply in TC", mk(frame.TC, 0x20, Header{Kind: Reply, Total: 10}, d, Magic), WrongType},
		{"past total", mk(frame.TC, 0x20, Header{Kind: Request, Total: 9}, d, Magic), BadSegment},
		{"empty data", mk(frame.TC, 0x20, Header{Kind: Request, Total: 9}, nil, Magic), BadSegment},
		{"busy with data", mk(frame.TM, 0x20, Header{Kind: Busy, Total: 10}, d, Magic), BadSegment},
		{"too large", mk(frame.TC, 0x20, Header{Kind: Request, Total: 1 << 30}, d, Magic), TooLarge},
		{"orphan", mk(frame.TC, 0x20, Header{Kind: Request, Total: 100, Offset: 10}, d, Magic), Orphan},
	} {
		r := NewReassembler(Limits{})
		res := r.Add(&tc.f, t0)
		if res.Status != Refused || res.Reason != tc.want {
			t.Errorf("%s: %v %v, want refused %v", tc.name, res.Status, res.Reason, tc.want)
		}
		if st := r.Stats(); st.Refused[tc.want] != 1 {
			t.Errorf("%s: counter %v = %d", tc.name, tc.want, st.Refused[tc.want])
		}
	}
}

func TestOutOfOrderAndReuse(t *testing.T) {
	r := NewReassembler(Limits{})
	fs, _ := Append(nil, Request, 0x20, 0x10, 5, msgOf(3*MaxData))
	r.Add(&fs[0], t0)
	if res := r.Add(&fs[2], t0); res.Reason != OutOfOrder {
		t.Fatalf("skip: %v %v", res.Status, res.Reason)
	}
	if res := r.Add(&fs[1], t0); res.Reason != Orphan {
		t.Fatalf("after drop: %v %v", res.Status, res.Reason)
	}
	// A new message with the same id restarts cleanly, the old one counted.
	r.Add(&fs[0], t0)
	if res := r.Add(&fs[0], t0); res.Status != Started {
		t.Fatalf("restart: %v", res.Status)
	}
	st := r.Stats()
	if st.Refused[OutOfOrder] != 3 || st.Refused[Orphan] != 1 || st.Partial != 1 || st.Buffered != 3*MaxData {
		t.Fatalf("stats %+v", st)
	}
	if !r.Drop(Key{Src: 0x20, Dest: 0x10, Kind: Request, ID: 5}) || r.Stats().Partial != 0 {
		t.Fatal("Drop")
	}
}

func TestLimits(t *testing.T) {
	lim := Limits{MaxPartial: 3, MaxPartialPeer: 2, MaxMessage: 10 * MaxData, IdleTimeout: time.Second}
	r := NewReassembler(lim)
	big := 4 * MaxData
	first := func(src frame.APID, id uint32) Result {
		fs, _ := Append(nil, Request, src, 0x10, id, msgOf(big))
		return r.Add(&fs[0], t0)
	}
	want := []struct {
		src frame.APID
		st  Status
		why Reason
	}{
		{0x20, Started, OK}, {0x20, Started, OK}, {0x20, Refused, PeerLimit},
		{0x21, Started, OK}, {0x22, Refused, PartialLimit},
	}
	for i, w := range want {
		res := first(w.src, uint32(i))
		if res.Status != w.st || res.Reason != w.why {
			t.Fatalf("%d: %v %v, want %v %v", i, res.Status, res.Reason, w.st, w.why)
		}
	}
	st := r.Stats()
	if st.Partial != 3 || st.Buffered != 3*big || st.Refused[PeerLimit] != 1 || st.Refused[PartialLimit] != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Idle: the fake clock passes the timeout, every partial expires.
	if n := r.Expire(t0.Add(time.Second)); n != 0 {
		t.Fatalf("expired %d at exactly the timeout", n)
	}
	if n := r.Expire(t0.Add(time.Second + 1)); n != 3 {
		t.Fatalf("expired %d, want 3", n)
	}
	st = r.Stats()
	if st.Partial != 0 || st.Buffered != 0 || st.Refused[Expired] != 3 {
		t.Fatalf("stats after expiry %+v", st)
	}
	if r.perPeer[0x20] != 0 || r.perPeer[0x21] != 0 {
		t.Fatal("per-peer counts leak")
	}
}

// TestBufferBudget: storage is charged by capacity; a message whose
// growth would pass the budget is dropped, and a start that does not fit
// is refused.
func TestBufferBudget(t *testing.T) {
	r := NewReassembler(Limits{MaxBuffered: 90_000})
	fs, _ := Append(nil, Request, 0x20, 0x10, 1, msgOf(100_000))
	if res := r.Add(&fs[0], t0); res.Status != Started || r.Stats().Buffered != initialChunk {
		t.Fatalf("start: %v, buffered %d", res.Status, r.Stats().Buffered)
	}
	other, _ := Append(nil, Request, 0x21, 0x10, 2, msgOf(30_000))
	if res := r.Add(&other[0], t0); res.Reason != BufferLimit {
		t.Fatalf("second start: %v %v, want buffer_limit", res.Status, res.Reason)
	}
	var res Result
	i := 1
	for ; i < len(fs); i++ {
		if res = r.Add(&fs[i], t0); res.Status != Partial {
			break
		}
	}
	if res.Reason != BufferLimit || (i+1)*MaxData <= initialChunk {
		t.Fatalf("segment %d: %v %v, want buffer_limit past the first chunk", i, res.Status, res.Reason)
	}
	if st := r.Stats(); st.Partial != 0 || st.Buffered != 0 || st.Refused[BufferLimit] != 3 {
		t.Fatalf("stats %+v", st)
	}
	// With room, the same message grows and completes.
	r = NewReassembler(Limits{MaxBuffered: 100_000})
	for i := range fs {
		res = r.Add(&fs[i], t0)
	}
	if res.Status != Complete || len(res.Data) != 100_000 || r.Stats().Buffered != 0 {
		t.Fatalf("complete: %v, %d bytes, stats %+v", res.Status, len(res.Data), r.Stats())
	}
}

func TestDropPeer(t *testing.T) {
	r := NewReassembler(Limits{})
	for i, src := range []frame.APID{0x20, 0x21, 0x20, 0x100} {
		fs, _ := Append(nil, Request, src, 0x10, uint32(i), msgOf(500))
		r.Add(&fs[0], t0)
	}
	n := r.DropPeer(func(a frame.APID) bool { return a >= 0x20 && a <= 0x2F })
	if n != 3 || r.Stats().Partial != 1 || r.Stats().Refused[Dropped] != 3 {
		t.Fatalf("DropPeer = %d, stats %+v", n, r.Stats())
	}
}

func TestAllocs(t *testing.T) {
	r := NewReassembler(Limits{})
	fs := make([]frame.Frame, 0, 1)
	msg := msgOf(40)
	if n := testing.AllocsPerRun(1000, func() {
		var err error
		fs, err = Append(fs[:0], Request, 0x20, 0x10, 1, msg)
		if err != nil {
			t.Fatal(err)
		}
		if res := r.Add(&fs[0], t0); res.Status != Complete {
			t.Fatal(res.Status)
		}
	}); n != 0 {
		t.Fatalf("%v allocs per one-frame message", n)
	}
}

func BenchmarkSegmentReassembleSmall(b *testing.B) {
	r := NewReassembler(Limits{})
	fs := make([]frame.Frame, 0, 1)
	msg := msgOf(40)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		fs, _ = Append(fs[:0], Request, 0x20, 0x10, 1, msg)
		r.Add(&fs[0], t0)
	}
}

func BenchmarkSegmentReassemble64K(b *testing.B) {
	r := NewReassembler(Limits{})
	msg := msgOf(65536 + 16)
	fs := make([]frame.Frame, 0, Segments(len(msg)))
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		fs, _ = Append(fs[:0], Reply, 0x10, 0x20, 1, msg)
		for i := range fs {
			r.Add(&fs[i], t0)
		}
	}
}

// BenchmarkCopy64K is the baseline: copying the same bytes once.
func BenchmarkCopy64K(b *testing.B) {
	msg := msgOf(65536 + 16)
	dst := make([]byte, len(msg))
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		copy(dst, msg)
	}
}
