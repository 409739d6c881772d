package ipcframe

import (
	"bytes"
	"testing"
	"time"

	"spacenet/apid/frame"
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

// TestPostFrame: a post's exact bytes, and the malformed posts ParseHeader
// refuses.
func TestPostFrame(t *testing.T) {
	fs, err := AppendPost(nil, 0x020, 0x010, 7, 0x80000005)
	if err != nil || len(fs) != 1 {
		t.Fatalf("AppendPost: %d frames, %v", len(fs), err)
	}
	want := []byte{
		0x01, 0x01, 0x00, 0x20, 0x00, 18, 0x00, 0x10, // frame header: v1, TC, src, len 18, dest
		0xD1, 0x14, 0, 0, 0, 7, 0, 0, 0, 4, 0, 0, 0, 0, // IPC sub-header: post, id 7, total 4
		0x80, 0x00, 0x00, 0x05, // the mask
	}
	if !bytes.Equal(fs[0][:len(want)], want) || fs[0].PayloadLen() != PostPayloadLen {
		t.Fatalf("bytes\n got % x\nwant % x", fs[0][:len(want)], want)
	}
	r := NewReassembler(Limits{})
	if res := r.Add(&fs[0], t0); res.Status != Complete || res.Key.Kind != Post || PostBits(res.Data) != 0x80000005 {
		t.Fatalf("reassembled: %+v", res)
	}
	post := func(kind Kind, total, offset uint32, data int) []byte {
		p := make([]byte, HeaderSize+data)
		Header{Kind: kind, ID: 1, Total: total, Offset: offset}.Put(p)
		return p
	}
	for _, tc := range []struct {
		name    string
		typ     frame.Type
		payload []byte
		want    Reason
	}{
		{"ok", frame.TC, post(Post, 4, 0, 4), OK},
		{"in TM", frame.TM, post(Post, 4, 0, 4), WrongType},
		{"short mask", frame.TC, post(Post, 3, 0, 3), BadSegment},
		{"long mask", frame.TC, post(Post, 5, 0, 5), BadSegment},
		{"segmented", frame.TC, post(Post, 4, 2, 2), BadSegment},
		{"refused, no data", frame.TM, post(PostRefused, 0, 0, 0), OK},
		{"refused with data", frame.TM, post(PostRefused, 1, 0, 1), BadSegment},
		{"refused in TC", frame.TC, post(PostRefused, 0, 0, 0), WrongType},
		{"kind 6", frame.TM, post(6, 0, 0, 0), BadHeader},
	} {
		if _, why := ParseHeader(tc.typ, tc.payload); why != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, why, tc.want)
		}
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
		{"kind 6", mk(frame.TM, 0x20, Header{Kind: 6, Total: 10}, d, Magic), BadHeader},
		{"post in TM", mk(frame.TM, 0x20, Header{Kind: Post, Total: 4}, d[:4], Magic), WrongType},
		{"post of 10 bytes", mk(frame.TC, 0x20, Header{Kind: Post, Total: 10}, d, Magic), BadSegment},
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
	lim := Limits{MaxPartial: 3, MaxPartialSender: 2, MaxMessage: 10 * MaxData, IdleTimeout: time.Second}
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
		{0x20, Started, OK}, {0x20, Started, OK}, {0x20, Refused, SenderLimit},
		{0x21, Started, OK}, {0x22, Refused, PartialLimit},
	}
	for i, w := range want {
		res := first(w.src, uint32(i))
		if res.Status != w.st || res.Reason != w.why {
			t.Fatalf("%d: %v %v, want %v %v", i, res.Status, res.Reason, w.st, w.why)
		}
	}
	st := r.Stats()
	if st.Partial != 3 || st.Buffered != 3*big || st.Refused[SenderLimit] != 1 || st.Refused[PartialLimit] != 1 {
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
	if r.used[0x20] != (budget{}) || r.used[0x21] != (budget{}) {
		t.Fatal("per-sender counts leak")
	}
}

// tenants maps the default policy's APIDs to tenants: camera 0, processor
// 1, spaceos 2; any other APID to none.
func tenants(a frame.APID) int {
	switch {
	case a >= 0x010 && a <= 0x01F:
		return 0
	case a >= 0x020 && a <= 0x02F:
		return 1
	case a >= 0x100 && a <= 0x2FF:
		return 2
	}
	return -1
}

// TestSenderShares: budgets are per sender (tenant), not per source APID,
// and each tenant keeps its guaranteed share of the overall budgets
// whatever the others hold (issue 14 item 5: spaceos held 64 partial
// messages from 8 of its APIDs and every multi-frame request from
// processor was refused).
func TestSenderShares(t *testing.T) {
	const c = initialChunk // what a message of 2c bytes holds once started
	type step struct {
		srcs    []frame.APID // the sources take turns, one first segment each
		n       int          // first segments sent
		started int          // of which stored; the rest refused for why
		why     Reason
	}
	spaceos8 := []frame.APID{0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107}
	proc := []frame.APID{0x020}
	for _, tc := range []struct {
		name  string
		lim   Limits
		size  int // message size
		steps []step
	}{
		{"many APIDs one budget", Limits{}, 1000, []step{
			{spaceos8, 64, 16, SenderLimit},
			{proc, 17, 16, SenderLimit},
			{[]frame.APID{0x010}, 16, 16, OK},
		}},
		{"share holds against the shared pool", Limits{MaxPartial: 12, MaxPartialSender: 10}, 1000, []step{
			{spaceos8, 10, 8, PartialLimit}, // its share 2, and the 6 shared
			{proc, 3, 2, PartialLimit},      // its share
			{[]frame.APID{0x011}, 2, 2, OK},
		}},
		{"sender byte budget", Limits{MaxBuffered: 12 * c, MaxBufferedSender: 3 * c}, 2 * c, []step{
			{spaceos8, 5, 3, SenderBufferLimit},
			{proc, 4, 3, SenderBufferLimit},
		}},
		{"byte share holds", Limits{MaxBuffered: 12 * c, MaxBufferedSender: 10 * c}, 2 * c, []step{
			{spaceos8, 9, 8, BufferLimit}, // its share 2, and the 6 shared
			{proc, 3, 2, BufferLimit},
			{[]frame.APID{0x012}, 2, 2, OK},
		}},
		{"no tenant: no share", Limits{MaxPartial: 6, MaxPartialSender: 8}, 1000, []step{
			{[]frame.APID{0x7F0}, 4, 3, PartialLimit}, // the 3 shared
			{spaceos8, 2, 1, PartialLimit},            // its share
			{proc, 1, 1, OK},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.lim.Sender, tc.lim.Senders = tenants, 3
			r := NewReassembler(tc.lim)
			id := uint32(0)
			var want Stats
			for si, st := range tc.steps {
				started := 0
				for i := range st.n {
					id++
					fs, _ := Append(nil, Request, st.srcs[i%len(st.srcs)], 0x10, id, msgOf(tc.size))
					switch res := r.Add(&fs[0], t0); {
					case res.Status == Started:
						started++
					case res.Status != Refused || res.Reason != st.why:
						t.Fatalf("step %d, frame %d: %v %v, want started or refused %v", si, i, res.Status, res.Reason, st.why)
					}
				}
				if started != st.started {
					t.Fatalf("step %d: %d started, want %d", si, started, st.started)
				}
				want.Partial += started
				want.Buffered += started * min(tc.size, initialChunk)
				want.Refused[st.why] += uint64(st.n - started)
			}
			want.Refused[OK] = 0
			if got := r.Stats(); got != want {
				t.Fatalf("stats\n got %+v\nwant %+v", got, want)
			}
			r.Expire(t0.Add(time.Hour))
			for s, u := range r.used {
				if u != (budget{}) {
					t.Fatalf("sender %d still charged %+v after every partial expired", s, u)
				}
			}
			if full := (budget{3 * r.reserve.parts, 3 * r.reserve.bytes}); r.unused != full || r.buffered != 0 {
				t.Fatalf("unused shares %+v, want %+v; buffered %d", r.unused, full, r.buffered)
			}
		})
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

// TestParseEcho: the sub-header of a refused frame, read back from the
// ERROR the switch answers it with (frame.EncodeError's echo), for every
// kind; a frame that is not IPC and the 8-byte ERROR form give NotIPC.
func TestParseEcho(t *testing.T) {
	long := make([]byte, 3*MaxData+5)
	for _, tc := range []struct {
		kind Kind
		msg  []byte
		seg  int // which frame of the message is refused
	}{
		{Request, []byte("status"), 0},
		{Request, long, 2},
		{Reply, long, 1},
		{Busy, nil, 0},
		{Post, []byte{0, 0, 0, 1}, 0},
		{PostRefused, nil, 0},
	} {
		fs, err := Append(nil, tc.kind, 0x020, 0x010, 0xCAFE0001, tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		var e frame.Frame
		frame.EncodeError(&e, frame.HostBusy, &fs[tc.seg])
		ep, err := frame.ParseErrorPayload(e.Payload())
		if err != nil {
			t.Fatal(err)
		}
		h, why := ParseEcho(frame.Type(ep.OffendingType), ep.Echo[:])
		want := Header{Kind: tc.kind, ID: 0xCAFE0001, Total: uint32(len(tc.msg)), Offset: uint32(tc.seg * MaxData)}
		if why != OK || h != want {
			t.Errorf("%v frame %d: ParseEcho = %+v, %v; want %+v", tc.kind, tc.seg, h, why, want)
		}
		if _, why := ParseEcho(frame.TM+frame.TC-frame.Type(ep.OffendingType), ep.Echo[:]); why != WrongType {
			t.Errorf("%v with the other frame type: %v, want WrongType", tc.kind, why)
		}
	}
	var plain, e frame.Frame
	frame.Encode(&plain, frame.TM, 0x020, 0x010, []byte("not IPC"))
	frame.EncodeError(&e, frame.NotPermitted, &plain)
	ep, _ := frame.ParseErrorPayload(e.Payload())
	if _, why := ParseEcho(frame.TM, ep.Echo[:]); why != NotIPC {
		t.Errorf("a plain frame's echo: %v, want NotIPC", why)
	}
	short, _ := frame.ParseErrorPayload(e.Payload()[:frame.ErrorPayloadSize])
	if _, why := ParseEcho(frame.TM, short.Echo[:]); why != NotIPC {
		t.Errorf("the 8-byte form: %v, want NotIPC", why)
	}
}

// FuzzParseEcho: any echo decodes or is refused, never panics, and what
// decodes has a known kind travelling in the frame type given.
func FuzzParseEcho(f *testing.F) {
	f.Add(uint8(frame.TC), []byte{Magic, Version<<4 | byte(Request), 0, 0, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 's', 't'})
	f.Add(uint8(frame.TM), []byte{Magic, Version<<4 | byte(Busy), 0, 0, 0, 1})
	f.Add(uint8(frame.TM), make([]byte, frame.ErrorEchoSize))
	f.Fuzz(func(t *testing.T, typ uint8, echo []byte) {
		h, why := ParseEcho(frame.Type(typ), echo)
		if why == OK && (h.Kind < Request || h.Kind > PostRefused || h.Kind.FrameType() != frame.Type(typ) || len(echo) < HeaderSize) {
			t.Fatalf("ParseEcho(%d, %x) = %+v, OK", typ, echo, h)
		}
	})
}
