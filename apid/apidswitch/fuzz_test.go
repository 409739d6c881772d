package apidswitch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/policy"
	"spacenet/apid/sysmsg"
)

// The fuzzed switch's barrier APIDs: each guest's last APID. A HEALTH
// request to 0x001 from one of them is answered by a reply addressed to it,
// after every earlier frame of that connection was routed. The fuzzer's own
// HEALTH requests from camera's barrier APID are moved to barrierOther, so
// that the barrier's reply is the only one addressed there.
const (
	barrierCamera  frame.APID = 0x01F
	barrierOther   frame.APID = 0x01E
	barrierProc    frame.APID = 0x02F
	barrierSpaceos frame.APID = 0x2FF
)

// downlinkRefuse is the first payload byte that makes the fuzz downlink refuse a
// frame (a failing ground link), so that the fuzzer reaches that path too.
const downlinkRefuse = 0xEE

// fuzzPolicy: camera may send to processor, spaceos and the ground; vault is
// a tenant camera may not send to (Not_permitted), and never connects.
func fuzzPolicy() *policy.Policy {
	return &policy.Policy{Source: "fuzz", Tenants: []policy.Tenant{
		{Name: "camera", Owns: []policy.Range{{First: 0x010, Last: 0x01F}}, CanSendTo: []string{"processor", "spaceos"}, Downlink: true},
		{Name: "processor", Owns: []policy.Range{{First: 0x020, Last: 0x02F}}, CanSendTo: []string{"camera"}},
		{Name: "spaceos", Owns: []policy.Range{{First: 0x100, Last: 0x2FF}}, CanSendTo: []string{"camera"}},
		{Name: "vault", Owns: []policy.Range{{First: 0x300, Last: 0x30F}}},
	}}
}

// fuzzSwitch is a running switch with camera, processor and spaceos
// connected, built once and fed every fuzz input through camera's socket:
// the real reader, routing, flow control, writers and system handling.
// Between inputs every guest is read up to a barrier, so each input starts
// from empty queues, and its effect is checked exactly.
type fuzzSwitch struct {
	sw     *Switch
	cancel context.CancelFunc
	done   chan error
	dir    string
	events chan Event

	cam, proc, space *guestStream

	mu         sync.Mutex
	system     []frame.Frame // frames given to Config.System, in order
	downlinked []frame.Frame // frames the downlink took, in order

	in []byte // the input as written, reused
}

// guestStream reads one guest's frames one at a time, keeping the rest of
// a batch read for the next call.
type guestStream struct {
	g    *guest.Conn
	buf  [64]frame.Frame
	i, n int
}

func (s *guestStream) next(f *frame.Frame) error {
	if s.i == s.n {
		n, err := s.g.ReadFrames(s.buf[:])
		if err != nil {
			return err
		}
		s.i, s.n = 0, n
	}
	*f = s.buf[s.i]
	s.i++
	return nil
}

// readTo reads frames until the reply to a barrier from dst, returning the
// frames before it appended to out. With toEOF it reads on to the end of
// the stream, keeping what follows the reply too.
func (s *guestStream) readTo(dst frame.APID, out []frame.Frame, toEOF bool) ([]frame.Frame, error) {
	var f frame.Frame
	seen := false
	for {
		err := s.next(&f)
		if toEOF && seen && errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("reading to the barrier to %v: %w", dst, err)
		}
		if f.Type() == frame.Health && f.APID() == sysmsg.APIDHealth && f.Dest() == dst {
			if seen {
				return out, fmt.Errorf("a second barrier reply to %v", dst)
			}
			if !toEOF {
				return out, nil
			}
			seen = true
			continue
		}
		out = append(out, f)
	}
}

// barrier writes a HEALTH request to 0x001 from src.
func (s *guestStream) barrier(src frame.APID) error {
	var f frame.Frame
	frame.Encode(&f, frame.Health, src, sysmsg.APIDHealth, nil)
	return s.g.WriteFrame(&f)
}

// fuzzDownlink is the fuzzed switch's frame downlink: it records what it takes
// and refuses frames whose payload starts with downlinkRefuse.
type fuzzDownlink struct{ h *fuzzSwitch }

func (u fuzzDownlink) SendFrame(f *frame.Frame) error {
	if p := f.Payload(); len(p) > 0 && p[0] == downlinkRefuse {
		return errors.New("fuzz downlink refuses it")
	}
	u.h.mu.Lock()
	u.h.downlinked = append(u.h.downlinked, *f)
	u.h.mu.Unlock()
	return nil
}

func newFuzzSwitch() (h *fuzzSwitch, err error) {
	dir, err := os.MkdirTemp("", "swfuzz")
	if err != nil {
		return nil, err
	}
	h = &fuzzSwitch{dir: dir, events: make(chan Event, 64), done: make(chan error, 1)}
	defer func() {
		if err != nil {
			h.close()
		}
	}()
	sw, err := New(Config{
		Policy:         fuzzPolicy(),
		SocketDir:      dir + "/s",
		Logger:         quietLogger(),
		DownlinkFrames: fuzzDownlink{h},
		System: func(_ string, f *frame.Frame) {
			h.mu.Lock()
			h.system = append(h.system, *f)
			h.mu.Unlock()
		},
		OnEvent: func(e Event) {
			select {
			case h.events <- e:
			default: // waitConnected then fails: only camera reconnects, one at a time
			}
		},
	})
	if err != nil {
		return h, err
	}
	h.sw = sw
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- sw.Run(ctx) }()
	select {
	case <-sw.Ready():
	case err := <-h.done:
		h.done <- err
		return h, fmt.Errorf("Run: %w", err)
	}
	for _, p := range []struct {
		s    **guestStream
		name string
	}{{&h.cam, "camera"}, {&h.proc, "processor"}, {&h.space, "spaceos"}} {
		if *p.s, err = h.dial(p.name); err != nil {
			return h, err
		}
	}
	return h, nil
}

// dial connects as tenant name and waits until the switch reports the
// connection.
func (h *fuzzSwitch) dial(name string) (*guestStream, error) {
	g, err := guest.Dial(h.sw.SocketPath(name))
	if err != nil {
		return nil, err
	}
	timeout := time.After(testTimeout)
	for {
		select {
		case e := <-h.events:
			if e.Tenant == name && (e.Kind == sysmsg.Connected || e.Kind == sysmsg.Replaced) {
				return &guestStream{g: g}, nil
			}
		case <-timeout:
			g.Close()
			return nil, fmt.Errorf("no connected event for %s", name)
		}
	}
}

func (h *fuzzSwitch) close() {
	for _, s := range []*guestStream{h.cam, h.proc, h.space} {
		if s != nil {
			s.g.Close()
		}
	}
	if h.cancel != nil {
		h.cancel()
		<-h.done
	}
	os.RemoveAll(h.dir)
}

func (h *fuzzSwitch) counters(name string) Counters {
	for _, c := range h.sw.Counters() {
		if c.Tenant == name {
			return c
		}
	}
	return Counters{}
}

// received is what the guests read for one input (barrier replies left
// out).
type received struct {
	cam, proc, space []frame.Frame
	err              error
}

// feed writes data to camera's socket as one stream (whole frames, then
// camera's barrier, then the partial tail frame if any, closing camera's
// sending side after it), and reads every guest up to its barriers:
// camera's (to the end of its stream when there was a tail), then two on
// processor and spaceos, the second of which is written only after every
// frame queued before the first was written and credited to its sender;
// and a second one on camera (without a tail), for the same reason.
func (h *fuzzSwitch) feed(data []byte, tail bool) received {
	deadline := time.Now().Add(testTimeout)
	for _, s := range []*guestStream{h.cam, h.proc, h.space} {
		s.g.SetDeadline(deadline)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := h.cam.g.Write(data)
		if err == nil && tail {
			err = h.cam.g.CloseWrite()
		}
		wrote <- err
	}()
	type result struct {
		fs  []frame.Frame
		err error
	}
	twice := func(s *guestStream, src frame.APID, out chan<- result) {
		fs, err := s.readTo(src, nil, false)
		if err == nil {
			err = s.barrier(src)
		}
		if err == nil {
			fs, err = s.readTo(src, fs, false)
		}
		out <- result{fs, err}
	}
	// The receivers are read from the start: flow control holds camera
	// while they do not read.
	proc, space := make(chan result, 1), make(chan result, 1)
	go twice(h.proc, barrierProc, proc)
	go twice(h.space, barrierSpaceos, space)
	var rec received
	var errs []error
	cam, err := h.cam.readTo(barrierCamera, nil, tail)
	errs = append(errs, err)
	if err == nil {
		errs = append(errs, h.proc.barrier(barrierProc), h.space.barrier(barrierSpaceos))
		if !tail {
			errs = append(errs, h.cam.barrier(barrierCamera))
			var more []frame.Frame
			more, err = h.cam.readTo(barrierCamera, nil, false)
			if len(more) > 0 {
				err = fmt.Errorf("camera got %d frames after its barrier", len(more))
			}
			errs = append(errs, err)
		}
	} else {
		// Unblock the writer (flow control may hold camera); the
		// receivers' reads end at their deadline.
		h.cam.g.Close()
	}
	p, s := <-proc, <-space
	rec.proc, rec.space = p.fs, s.fs
	errs = append(errs, p.err, s.err)
	errs = append(errs, <-wrote)
	rec.cam = cam
	rec.err = errors.Join(errs...)
	return rec
}

// reconnect replaces camera's connection after a stream that ended.
func (h *fuzzSwitch) reconnect() error {
	h.cam.g.Close()
	var err error
	h.cam, err = h.dial("camera")
	return err
}

// counts is how many of an input's frames went where.
type counts struct {
	local, system, downlink uint64
	dropped                 [NumReasons]uint64
}

// account finds every input frame (the padded tail last, if any) in
// exactly one place, in order: delivered to processor, spaceos or camera
// itself (padding zeroed), taken by the downlink, given to the system handler, answered by
// a HEALTH reply, or refused with an ERROR that is exactly the one
// frame.EncodeError makes for it. Nothing may be left over anywhere. It
// returns where they went and how many notices camera read.
func account(t *testing.T, frames []frame.Frame, rec received, system, downlinked []frame.Frame) (c counts, notices uint64) {
	t.Helper()
	take := func(list *[]frame.Frame, f *frame.Frame) bool {
		if len(*list) > 0 && (*list)[0] == *f {
			*list = (*list)[1:]
			return true
		}
		return false
	}
	// Camera's own stream holds the switch's notices (from 0x000-0x002)
	// and the frames it sent to itself (from its own APIDs): each kind in
	// order, not necessarily interleaved as the input was.
	var notes, self []frame.Frame
	for _, f := range rec.cam {
		if f.APID() < 0x010 {
			notes = append(notes, f)
		} else {
			self = append(self, f)
		}
	}
	notices = uint64(len(notes))
	for i := range frames {
		f := &frames[i]
		padded := *f
		padded.ZeroPadding()
		switch {
		case take(&rec.proc, &padded), take(&rec.space, &padded), take(&self, &padded):
			c.local++
		case take(&downlinked, &padded):
			c.downlink++
		case take(&system, f):
			c.system++
		case len(notes) > 0 && isReplyTo(&notes[0], f):
			notes = notes[1:]
			c.system++
		case len(notes) > 0 && notes[0].Type() == frame.Error:
			p, err := frame.ParseErrorPayload(notes[0].Payload())
			var want frame.Frame
			frame.EncodeError(&want, p.Code, f)
			if err != nil || !p.Code.Known() || notes[0] != want {
				t.Fatalf("frame %d (header %x): ERROR %x is not its answer", i, f[:frame.HeaderSize], notes[0][:frame.HeaderSize+frame.ErrorFrameLen])
			}
			notes = notes[1:]
			c.dropped[p.Code]++
		default:
			t.Fatalf("frame %d of %d (header %x) is nowhere: not delivered, downlinked, handled nor answered", i, len(frames), f[:frame.HeaderSize])
		}
	}
	for _, left := range []struct {
		what string
		fs   []frame.Frame
	}{{"camera (notices)", notes}, {"camera (frames)", self}, {"processor", rec.proc}, {"spaceos", rec.space}, {"the downlink", downlinked}, {"the system handler", system}} {
		if len(left.fs) > 0 {
			t.Fatalf("%s got %d frames the input did not account for, first header %x", left.what, len(left.fs), left.fs[0][:frame.HeaderSize])
		}
	}
	return c, notices
}

// isReplyTo reports whether r is the switch's reply to f, a HEALTH request
// to 0x001 or 0x002, with a payload that parses.
func isReplyTo(r, f *frame.Frame) bool {
	if f.Type() != frame.Health || r.Type() != frame.Health || r.APID() != f.Dest() || r.Dest() != f.APID() {
		return false
	}
	switch f.Dest() {
	case sysmsg.APIDHealth:
		_, err := sysmsg.ParseHealth(r.Payload())
		return err == nil
	case sysmsg.APIDEvents:
		_, err := sysmsg.ParseSubscribeAck(r.Payload())
		return err == nil
	}
	return false
}

// run feeds one input and checks what became of it.
func (h *fuzzSwitch) run(t *testing.T, data []byte) {
	whole := len(data) - len(data)%frame.Size
	tail := whole < len(data)
	n := whole / frame.Size
	frames := make([]frame.Frame, n, n+1)
	for i := range frames {
		f := &frames[i]
		copy(f[:], data[i*frame.Size:])
		if f.Type() == frame.Health && f.Dest() == sysmsg.APIDHealth && f.APID() == barrierCamera {
			f.SetAPID(barrierOther)
		}
	}
	var b frame.Frame
	frame.Encode(&b, frame.Health, barrierCamera, sysmsg.APIDHealth, nil)
	h.in = append(append(append(h.in[:0], frameBytes(frames)...), b[:]...), data[whole:]...)
	if tail {
		var f frame.Frame
		copy(f[:], data[whole:])
		frames = append(frames, f)
	}

	before := h.counters("camera")
	h.mu.Lock()
	h.system, h.downlinked = h.system[:0], h.downlinked[:0]
	h.mu.Unlock()
	rec := h.feed(h.in, tail)
	if rec.err != nil {
		t.Fatal(rec.err)
	}
	if tail {
		if err := h.reconnect(); err != nil {
			t.Fatal(err)
		}
	}
	h.mu.Lock()
	system, downlinked := h.system, h.downlinked
	h.mu.Unlock()
	c, notices := account(t, frames, rec, system, downlinked)
	notices++ // the barrier's reply
	barriers := uint64(1)
	if !tail {
		notices, barriers = notices+1, barriers+1
	}

	after := h.counters("camera")
	if !after.Balanced() {
		t.Fatalf("camera's counters do not balance: %+v", after)
	}
	got := counts{
		local:    after.Delivered + after.Queued - before.Delivered - before.Queued,
		system:   after.DeliveredSystem - before.DeliveredSystem - barriers,
		downlink: after.DeliveredGround - before.DeliveredGround,
	}
	for i := range got.dropped {
		got.dropped[i] = after.Dropped[i] - before.Dropped[i]
	}
	if got != c || after.Received-before.Received != uint64(len(frames))+barriers || after.Queued != 0 || after.Held != 0 {
		t.Fatalf("camera's counters went from %+v to %+v for %d frames and %d barriers; the guests saw %+v", before, after, len(frames), barriers, c)
	}
	if q := after.NoticesQueued - before.NoticesQueued; q != notices || after.NoticesLost != 0 {
		t.Fatalf("camera read %d notices, the switch queued %d and lost %d", notices, q, after.NoticesLost)
	}
	// The last barrier's reply may be read before its write is credited.
	for _, name := range []string{"camera", "processor", "spaceos"} {
		c := h.counters(name)
		if c.NoticesLost != 0 || c.NoticesDelivered+1 < c.NoticesQueued || c.NoticesDelivered > c.NoticesQueued {
			t.Fatalf("%s: notices %+v", name, c)
		}
	}
	if tail {
		if after.NoticesDelivered != after.NoticesQueued {
			t.Fatalf("camera's stream ended with notices unwritten: %+v", after)
		}
	}
}

// FuzzProcess feeds arbitrary bytes to camera's connection of a running
// switch, as one stream: whole frames, then a barrier, then a trailing
// partial frame if any (camera then closes its sending side, and
// reconnects for the next input). The switch and its guests are made once
// per fuzz worker (again after a failed input). Per input, every frame must
// be found in exactly one place (delivered, downlinked, handled, or answered
// with its ERROR), the sender's counters must move by exactly that, and no
// notice may be lost; nothing may panic or stall.
func FuzzProcess(f *testing.F) {
	var ok frame.Frame
	frame.Encode(&ok, frame.TM, 0x010, 0x020, []byte("hello"))
	f.Add(ok[:])
	f.Add(append(append([]byte{}, ok[:]...), ok[:10]...))
	bad := ok
	bad.SetVersion(7)
	f.Add(bad[:])
	health := ok
	health.SetType(frame.Health)
	health.SetDest(sysmsg.APIDHealth)
	f.Add(health[:])
	f.Add([]byte{1, 0, 0, 0x10})
	var seq []byte
	for _, s := range []struct {
		typ     frame.Type
		dst     frame.APID
		payload string
	}{
		{frame.TM, 0x100, "to spaceos"},
		{frame.TM, 0x017, "to itself"},
		{frame.TM, 0x300, "to vault: not permitted"},
		{frame.TM, 0x7F0, "to the ground"},
		{frame.TM, 0x000, "\xEE refused by the downlink"},
		{frame.TC, 0x005, "a system frame"},
		{frame.Health, sysmsg.APIDEvents, ""},
		{frame.Health, sysmsg.APIDHealth, ""},
	} {
		var g frame.Frame
		frame.Encode(&g, s.typ, 0x011, s.dst, []byte(s.payload))
		seq = append(seq, g[:]...)
	}
	f.Add(seq)
	var h *fuzzSwitch
	f.Cleanup(func() {
		if h != nil {
			h.close()
		}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		if h == nil {
			var err error
			if h, err = newFuzzSwitch(); err != nil {
				h = nil
				t.Fatal(err)
			}
		}
		done := false
		defer func() {
			if !done {
				// A failed input leaves the switch in an unknown
				// state: the next input gets a new one.
				h.close()
				h = nil
			}
		}()
		h.run(t, data)
		done = !t.Failed()
	})
}

// TestProcessFlood runs the fuzz harness over more than a queue holds, to
// both receivers (flow control holds camera whenever the guests fall behind), and
// the accounting must still be exact. (Not a FuzzProcess seed: the fuzzer
// mutating and minimizing a 768 KiB input stalls for seconds at a time.)
func TestProcessFlood(t *testing.T) {
	h, err := newFuzzSwitch()
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	var flood []byte
	for i := range 3 * DefaultQueueLen {
		var f frame.Frame
		frame.Encode(&f, frame.TM, 0x010, []frame.APID{0x020, 0x100}[i/300%2], []byte{byte(i)})
		flood = append(flood, f[:]...)
	}
	h.run(t, flood)
	h.run(t, append(flood, 1, 0)) // and with a partial tail
}
