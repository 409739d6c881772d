package apidswitch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/policy"
	"spacenet/apid/sysmsg"
)

func TestDeliverByteExact(t *testing.T) {
	h := startSwitch(t, Config{})
	cam := h.dial("camera")
	proc := h.dial("processor")

	f := mkFrame(t, frame.TM, 0x010, 0x020, "hello")
	want := f
	// Garbage after payload_length must not leak to the receiver.
	for i := frame.HeaderSize + 5; i < frame.Size; i++ {
		f[i] = 0xAA
	}
	if err := cam.WriteFrame(&f); err != nil {
		t.Fatal(err)
	}
	got := readFrame(t, proc)
	if got != want {
		t.Fatalf("processor got\n%x\nwant\n%x", got[:], want[:])
	}
	barrier(t, cam, 0x010)
	c := h.counters("camera")
	if c.Received != 2 || c.Delivered != 1 || c.DeliveredSystem != 1 || c.Queued != 0 || c.DroppedTotal() != 0 {
		t.Errorf("camera counters %+v", c)
	}
}

func TestBatchedDelivery(t *testing.T) {
	h := startSwitch(t, Config{})
	cam := h.dial("camera")
	proc := h.dial("processor")
	const n = 300 // more than one read or write batch
	out := make([]frame.Frame, n)
	for i := range out {
		var p [4]byte
		binary.BigEndian.PutUint32(p[:], uint32(i))
		out[i] = mkFrame(t, frame.TM, 0x010+frame.APID(i%16), 0x020+frame.APID(i%16), string(p[:]))
	}
	if err := cam.WriteFrames(out); err != nil {
		t.Fatal(err)
	}
	in := make([]frame.Frame, n)
	proc.SetReadDeadline(time.Now().Add(testTimeout))
	for got := 0; got < n; {
		k, err := proc.ReadFrames(in[got:])
		if err != nil {
			t.Fatal(err)
		}
		got += k
	}
	for i := range in {
		if in[i] != out[i] {
			t.Fatalf("frame %d differs", i)
		}
	}
}

func TestRefusals(t *testing.T) {
	h := startSwitch(t, Config{Policy: restricted()})
	cam := h.dial("camera")

	valid := mkFrame(t, frame.TM, 0x010, 0x020, "x")
	with := func(edit func(f *frame.Frame)) frame.Frame {
		f := valid
		edit(&f)
		return f
	}
	tests := []struct {
		name string
		f    frame.Frame
		code frame.ErrorCode
	}{
		{"spoofed source", with(func(f *frame.Frame) { f.SetAPID(0x020) }), frame.APIDNotAllocated},
		{"policy violation", with(func(f *frame.Frame) { f.SetDest(0x100) }), frame.NotPermitted},
		{"unknown type", with(func(f *frame.Frame) { f.SetType(0x0A) }), frame.UnknownType},
		{"bad version", with(func(f *frame.Frame) { f.SetVersion(2) }), frame.UnknownVersion},
		{"oversize payload_length", with(func(f *frame.Frame) { f.SetPayloadLen(249) }), frame.MessageTooLarge},
		{"APID upper bits", with(func(f *frame.Frame) { f.SetDest(0x820) }), frame.Malformed},
		{"no route, no downlink", with(func(f *frame.Frame) { f.SetDest(0x500) }), frame.NoRoute},
		{"to ground, no downlink", with(func(f *frame.Frame) { f.SetDest(0x000) }), frame.NoRoute},
	}
	var want [NumReasons]uint64
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := cam.WriteFrame(&tc.f); err != nil {
				t.Fatal(err)
			}
			cam.SetReadDeadline(time.Now().Add(testTimeout))
			var got frame.Frame
			if err := cam.ReadFrame(&got); err != nil {
				t.Fatalf("read: %v; counters %+v", err, h.sw.Counters())
			}
			if wantErr := errorFrame(tc.code, &tc.f); got != wantErr {
				t.Fatalf("got\n%x\nwant ERROR %v\n%x", got[:16], tc.code, wantErr[:16])
			}
			want[tc.code]++
			c := h.counters("camera")
			if c.Received != uint64(i+1) || c.Dropped != want {
				t.Errorf("counters: received %d dropped %v, want %d %v", c.Received, c.Dropped, i+1, want)
			}
		})
	}
}

func TestPartialFrame(t *testing.T) {
	h := startSwitch(t, Config{})
	cam := h.dial("camera")
	proc := h.dial("processor")
	f := mkFrame(t, frame.TM, 0x010, 0x020, "whole")
	var buf []byte
	buf = append(buf, f[:]...)
	buf = append(buf, f[:100]...) // a whole frame, then 100 bytes of the next
	if _, err := cam.Write(buf); err != nil {
		t.Fatal(err)
	}
	if err := cam.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got := readFrame(t, proc); got != f {
		t.Fatal("whole frame not delivered")
	}
	var partial frame.Frame
	copy(partial[:], f[:100])
	if got, want := readFrame(t, cam), errorFrame(frame.Malformed, &partial); got != want {
		t.Fatalf("got %x, want Malformed ERROR %x", got[:16], want[:16])
	}
	h.waitEvent("camera", sysmsg.Disconnected)
	c := h.counters("camera")
	if c.Received != 2 || c.Delivered != 1 || c.Dropped[frame.Malformed] != 1 || c.Connected {
		t.Errorf("camera counters %+v", c)
	}
}

// A stalled receiver: its senders get Host_busy, everyone else keeps
// flowing, and the counts agree exactly.
func TestStalledReceiver(t *testing.T) {
	h := startSwitch(t, Config{QueueLen: 64})
	cam := h.dial("camera")
	h.dial("processor") // connected, never reads
	os := h.dial("spaceos")

	batch := make([]frame.Frame, 64)
	for i := range batch {
		batch[i] = mkFrame(t, frame.TM, 0x010, 0x020, "to a stalled guest")
	}
	// Camera's frames come back through a goroutine, so that the test can
	// write and read at once.
	camIn := make(chan frame.Frame, 1<<16)
	go func() {
		defer close(camIn)
		var in [64]frame.Frame
		cam.SetReadDeadline(time.Now().Add(testTimeout))
		for {
			n, err := cam.ReadFrames(in[:])
			for i := range in[:n] {
				camIn <- in[i]
			}
			if err != nil {
				return
			}
		}
	}()
	next := func() frame.Frame {
		f, ok := <-camIn
		if !ok {
			t.Fatal("camera connection ended")
		}
		return f
	}
	isBusy := func(f frame.Frame) bool {
		p, _ := frame.ParseErrorPayload(f.Payload())
		return f.Type() == frame.Error && p.Code == frame.HostBusy
	}
	// Camera writes to processor until it is answered Host_busy. The
	// kernel's socket buffers absorb a few thousand frames first.
	busy, sent := 0, 0
	for busy == 0 {
		if sent > 200_000 {
			t.Fatal("no Host_busy after 200000 frames")
		}
		if err := cam.WriteFrames(batch); err != nil {
			t.Fatal(err)
		}
		sent += len(batch)
		select {
		case f := <-camIn:
			if !isBusy(f) {
				t.Fatalf("unexpected frame %x", f[:16])
			}
			busy++
		default:
		}
	}
	// Other tenants keep flowing both ways, through camera too.
	for i := range 100 {
		f := mkFrame(t, frame.TM, 0x100, 0x010, "still flowing")
		// Camera's own queue may be full of Host_busy ERRORs for a moment:
		// then spaceos is answered Host_busy too, and sends again.
		for {
			if err := os.WriteFrame(&f); err != nil {
				t.Fatal(err)
			}
			if back := barrier(t, os, 0x100); len(back) == 0 {
				break
			}
		}
		// camera may still have Host_busy ERRORs queued ahead.
		for {
			g := next()
			if isBusy(g) {
				busy++
				continue
			}
			if g != f {
				t.Fatalf("frame %d: got %x", i, g[:16])
			}
			break
		}
		b := mkFrame(t, frame.TM, 0x010, 0x100, "back")
		if err := cam.WriteFrame(&b); err != nil {
			t.Fatal(err)
		}
		if g := readFrame(t, os); g != b {
			t.Fatalf("spaceos got %x", g[:16])
		}
	}
	hf := mkFrame(t, frame.Health, 0x010, sysmsg.APIDHealth, "")
	cam.WriteFrame(&hf)
	for {
		g := next()
		if isBusy(g) {
			busy++
			continue
		}
		if g.Type() != frame.Health {
			t.Fatalf("got %x", g[:16])
		}
		break
	}
	cam.Close()
	for range camIn {
	}
	c := h.counters("camera")
	if c.Dropped[frame.HostBusy] == 0 || c.Dropped[frame.HostBusy] != uint64(busy)+c.NoticesLost {
		t.Errorf("Host_busy dropped %d, ERRORs read %d, lost %d", c.Dropped[frame.HostBusy], busy, c.NoticesLost)
	}
	if c.Received != uint64(sent)+100+1 {
		t.Errorf("received %d, sent %d", c.Received, sent+101)
	}
	if p := h.counters("camera"); p.Delivered >= uint64(sent)+100 {
		t.Errorf("camera delivered %d of %d frames to a stalled guest", p.Delivered, sent)
	}
}

func TestReconnectKeepsQueued(t *testing.T) {
	h := startSwitch(t, Config{})
	cam := h.dial("camera")
	proc := h.dial("processor")
	if e := h.counters("processor"); e.Generation != 1 {
		t.Fatalf("generation %d", e.Generation)
	}
	proc.Close()
	h.waitEvent("processor", sysmsg.Disconnected)

	var sent []frame.Frame
	for i := range 5 {
		f := mkFrame(t, frame.TM, 0x010, 0x020, string(rune('a'+i)))
		sent = append(sent, f)
		if err := cam.WriteFrame(&f); err != nil {
			t.Fatal(err)
		}
	}
	barrier(t, cam, 0x010)
	if c := h.counters("camera"); c.Queued != 5 {
		t.Fatalf("camera queued %d, want 5", c.Queued)
	}
	proc2 := h.dial("processor")
	for i, want := range sent {
		if got := readFrame(t, proc2); got != want {
			t.Fatalf("frame %d: got %x", i, got[:16])
		}
	}
	barrier(t, proc2, 0x020)
	c := h.counters("camera")
	if c.Queued != 0 || c.Delivered != 5 {
		t.Errorf("camera %+v", c)
	}
	if p := h.counters("processor"); p.Generation != 2 || !p.Connected {
		t.Errorf("processor generation %d connected %v", p.Generation, p.Connected)
	}
}

func TestReplaceConnection(t *testing.T) {
	h := startSwitch(t, Config{})
	old := h.dial("processor")
	neu, err := guest.Dial(h.sw.SocketPath("processor"))
	if err != nil {
		t.Fatal(err)
	}
	defer neu.Close()
	e := h.waitEvent("processor", sysmsg.Replaced)
	if e.Generation != 2 {
		t.Errorf("generation %d, want 2", e.Generation)
	}
	want := TenantInfo{Name: "processor", Socket: h.sw.SocketPath("processor"), Generation: 2, Connected: true}
	if ti := h.sw.Tenants()[1]; ti != want {
		t.Errorf("Tenants()[1] = %+v, want %+v", ti, want)
	}
	old.SetReadDeadline(time.Now().Add(testTimeout))
	var f frame.Frame
	if err := old.ReadFrame(&f); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("old connection read: %v, want EOF", err)
	}
	cam := h.dial("camera")
	m := mkFrame(t, frame.TM, 0x010, 0x020, "to the new one")
	cam.WriteFrame(&m)
	if got := readFrame(t, neu); got != m {
		t.Error("new connection did not get the frame")
	}
}

func TestHealth(t *testing.T) {
	h := startSwitch(t, Config{})
	cam := h.dial("camera")
	req := mkFrame(t, frame.Health, 0x013, sysmsg.APIDHealth, "")
	cam.WriteFrame(&req)
	r := readFrame(t, cam)
	if r.Type() != frame.Health || r.APID() != sysmsg.APIDHealth || r.Dest() != 0x013 {
		t.Fatalf("reply header %+v", r.Header())
	}
	hl, err := sysmsg.ParseHealth(r.Payload())
	if err != nil {
		t.Fatal(err)
	}
	want := []sysmsg.HealthTenant{
		{FirstAPID: 0x010, Generation: 1, Connected: true},
		{FirstAPID: 0x020},
		{FirstAPID: 0x100},
	}
	if len(hl.Tenants) != 3 {
		t.Fatalf("tenants %+v", hl.Tenants)
	}
	for i := range want {
		if hl.Tenants[i] != want[i] {
			t.Errorf("tenant %d: %+v, want %+v", i, hl.Tenants[i], want[i])
		}
	}
	// Other system frames are counted, not answered.
	other := mkFrame(t, frame.TM, 0x010, 0x005, "x")
	cam.WriteFrame(&other)
	barrier(t, cam, 0x010)
	if n := h.sw.SystemUnhandled(); n != 1 {
		t.Errorf("unhandled %d", n)
	}
	if c := h.counters("camera"); c.DeliveredSystem != 3 {
		t.Errorf("delivered system %d", c.DeliveredSystem)
	}
}

func TestSystemHandler(t *testing.T) {
	got := make(chan string, 1)
	h := startSwitch(t, Config{System: func(tenant string, f *frame.Frame) {
		got <- tenant + ":" + string(f.Payload())
	}})
	cam := h.dial("camera")
	f := mkFrame(t, frame.TC, 0x010, 0x00F, "cmd")
	cam.WriteFrame(&f)
	select {
	case s := <-got:
		if s != "camera:cmd" {
			t.Errorf("handler got %q", s)
		}
	case <-time.After(testTimeout):
		t.Fatal("handler not called")
	}
}

func TestEventSubscription(t *testing.T) {
	h := startSwitch(t, Config{})
	spos := h.dial("spaceos")
	sub := mkFrame(t, frame.Health, 0x100, sysmsg.APIDEvents, "")
	spos.WriteFrame(&sub)
	if ack := readFrame(t, spos); ack.APID() != sysmsg.APIDEvents || ack.Dest() != 0x100 || ack.Type() != frame.Health {
		t.Fatalf("ack %+v", ack.Header())
	}
	h.dial("camera")                                   // camera's first connection: the first notice, Connected
	cam2, err := guest.Dial(h.sw.SocketPath("camera")) // a restarted camera
	if err != nil {
		t.Fatal(err)
	}
	h.waitEvent("camera", sysmsg.Replaced)
	cam2.Close()
	h.waitEvent("camera", sysmsg.Disconnected)
	want := []sysmsg.EventNotice{
		{Kind: sysmsg.Connected, Tenant: "camera", FirstAPID: 0x010, Generation: 1},
		{Kind: sysmsg.Replaced, Tenant: "camera", FirstAPID: 0x010, Generation: 2},
		{Kind: sysmsg.Disconnected, Tenant: "camera", FirstAPID: 0x010, Generation: 2},
	}
	for i, w := range want {
		f := readFrame(t, spos)
		if f.APID() != sysmsg.APIDEvents || f.Dest() != 0x100 {
			t.Fatalf("event %d header %+v", i, f.Header())
		}
		e, err := sysmsg.ParseEventNotice(f.Payload())
		if err != nil {
			t.Fatal(err)
		}
		if e != w {
			t.Errorf("event %d: %+v, want %+v", i, e, w)
		}
	}
}

func TestSocketFiles(t *testing.T) {
	h := startSwitch(t, Config{})
	fi, err := os.Stat(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", fi.Mode().Perm())
	}
	for _, name := range []string{"camera", "processor", "spaceos"} {
		fi, err := os.Stat(h.sw.SocketPath(name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", name, fi.Mode())
		}
	}
}

func TestStopRemovesSockets(t *testing.T) {
	dir, err := os.MkdirTemp("", "swt")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sw, err := New(Config{SocketDir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()
	<-sw.Ready()
	g, err := guest.Dial(sw.SocketPath("processor"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("left in socket dir: %v", ents)
	}
}

func TestReload(t *testing.T) {
	h := startSwitch(t, Config{})
	cam := h.dial("camera")
	proc := h.dial("processor")

	// A bad policy is refused and the old one kept.
	bad := &policy.Policy{Source: "bad", Tenants: []policy.Tenant{
		{Name: "camera", Owns: []policy.Range{{First: 0x010, Last: 0x01F}}},
		{Name: "other", Owns: []policy.Range{{First: 0x015, Last: 0x020}}},
	}}
	if err := h.sw.Reload(bad); err == nil {
		t.Fatal("bad policy accepted")
	}
	// New policy: spaceos gone, "logger" added, camera may no longer send
	// to processor.
	p := &policy.Policy{Source: "new", Tenants: []policy.Tenant{
		{Name: "processor", Owns: []policy.Range{{First: 0x020, Last: 0x02F}}, CanSendTo: []string{"camera"}},
		{Name: "camera", Owns: []policy.Range{{First: 0x010, Last: 0x01F}}, CanSendTo: []string{"logger"}},
		{Name: "logger", Owns: []policy.Range{{First: 0x300, Last: 0x30F}}},
	}}
	if err := h.sw.Reload(p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(h.sw.SocketPath("spaceos")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spaceos socket still there: %v", err)
	}
	lg := h.dial("logger")
	// Connections survived: camera and processor still talk, by the new rules.
	f := mkFrame(t, frame.TM, 0x010, 0x020, "now forbidden")
	cam.WriteFrame(&f)
	if got, want := readFrame(t, cam), errorFrame(frame.NotPermitted, &f); got != want {
		t.Fatalf("got %x", got[:16])
	}
	f = mkFrame(t, frame.TM, 0x010, 0x300, "to logger")
	cam.WriteFrame(&f)
	if got := readFrame(t, lg); got != f {
		t.Fatal("logger did not get the frame")
	}
	f = mkFrame(t, frame.TM, 0x020, 0x010, "processor to camera")
	proc.WriteFrame(&f)
	if got := readFrame(t, cam); got != f {
		t.Fatal("camera did not get processor's frame")
	}
	if c := h.counters("camera"); c.Generation != 1 {
		t.Errorf("camera generation %d: connection was dropped", c.Generation)
	}
}

func TestInject(t *testing.T) {
	h := startSwitch(t, Config{})
	proc := h.dial("processor")
	f := mkFrame(t, frame.TC, 0x7F0, 0x021, "from ground")
	if err := h.sw.Inject(&f); err != nil {
		t.Fatal(err)
	}
	if got := readFrame(t, proc); got != f {
		t.Fatal("not delivered")
	}
	nr := mkFrame(t, frame.TC, 0x7F0, 0x500, "nobody")
	if err := h.sw.Inject(&nr); !errors.Is(err, frame.NoRoute) {
		t.Errorf("Inject to nobody: %v", err)
	}
	bad := f
	bad.SetVersion(9)
	if err := h.sw.Inject(&bad); !errors.Is(err, frame.UnknownVersion) {
		t.Errorf("Inject bad version: %v", err)
	}
	barrier(t, proc, 0x020)
	g := h.sw.Ground()
	if g.Received != 3 || g.Delivered != 1 || g.Dropped[frame.NoRoute] != 1 || g.Dropped[frame.UnknownVersion] != 1 || !g.Balanced() {
		t.Errorf("ground %+v", g)
	}
}

// fakeDownlink records packets; the UDP downlink has its own tests in package
// uplink.
type fakeDownlink struct{ pkts chan []byte }

func (u *fakeDownlink) SendPacket(p []byte) error {
	u.pkts <- bytes.Clone(p)
	return nil
}

// TestDownlinkWrap: a frame to the ground leaves in the configured layout,
// byte-exact (golden bytes worked by hand), the sequence count per APID.
func TestDownlinkWrap(t *testing.T) {
	// 2000-01-01T00:00:00.5Z: 631152000 s (0x259E9D80) after cFE's epoch.
	clock := func() time.Time { return time.Date(2000, 1, 1, 0, 0, 0, 500_000_000, time.UTC) }
	tests := []struct {
		layout ccsds.Layout
		want   string // hex of the two packets (seq 0, then 1)
	}{
		{ccsds.Plain, "0011C0000003646F776E 0011C0010003646F776E"},
		{ccsds.CFS, "0811C000000D259E9D80800000000000646F776E 0811C001000D259E9D80800000000000646F776E"},
		{ccsds.Spacenet, "0011C000000B0100001100040000646F776E 0011C001000B0100001100040000646F776E"},
	}
	for _, tc := range tests {
		t.Run(tc.layout.String(), func(t *testing.T) {
			u := &fakeDownlink{pkts: make(chan []byte, 4)}
			h := startSwitch(t, Config{Downlink: u, Layout: tc.layout, Clock: clock})
			cam := h.dial("camera")
			f := mkFrame(t, frame.TM, 0x011, 0x000, "down")
			cam.WriteFrames([]frame.Frame{f, f})
			barrier(t, cam, 0x010)
			got := fmt.Sprintf("%X %X", <-u.pkts, <-u.pkts)
			if got != tc.want {
				t.Errorf("packets %s\nwant    %s", got, tc.want)
			}
			if c := h.counters("camera"); c.DeliveredGround != 2 {
				t.Errorf("camera %+v", c)
			}
		})
	}
}

// TestOrderMixedPaths: a slow reader makes the switch switch between direct
// writes and its queue and back; whatever is delivered arrives in order,
// whole, and agrees with the counters.
func TestOrderMixedPaths(t *testing.T) {
	h := startSwitch(t, Config{QueueLen: 128})
	cam := h.dial("camera")
	proc := h.dial("processor")
	const n = 20_000
	done := make(chan error, 1)
	go func() {
		out := make([]frame.Frame, 50)
		for sent := 0; sent < n; sent += len(out) {
			for k := range out {
				var p [4]byte
				binary.BigEndian.PutUint32(p[:], uint32(sent+k))
				frame.Encode(&out[k], frame.TM, 0x010, 0x020, p[:])
			}
			if err := cam.WriteFrames(out); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	progress := make(chan struct{}, 1)
	poke := func() {
		select {
		case progress <- struct{}{}:
		default:
		}
	}
	// Camera's ERRORs are counted as they come back.
	var nb atomic.Int64
	go func() {
		var f frame.Frame
		for cam.ReadFrame(&f) == nil {
			nb.Add(1)
			poke()
		}
	}()
	// Processor reads slowly: small, odd reads.
	var got atomic.Int64
	go func() {
		next := -1
		in := make([]frame.Frame, 7)
		for {
			k, err := proc.ReadFrames(in)
			if err != nil {
				return
			}
			for i := range in[:k] {
				v := int(binary.BigEndian.Uint32(in[i].Payload()))
				if in[i].APID() != 0x010 || v <= next {
					t.Errorf("frame %d after %d", v, next)
					return
				}
				next = v
			}
			got.Add(int64(k))
			poke()
		}
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline := time.After(testTimeout)
	for {
		c := h.counters("camera")
		if c.Received == n && c.Queued == 0 && uint64(got.Load()) == c.Delivered && uint64(nb.Load())+c.NoticesLost == c.Dropped[frame.HostBusy] {
			if c.Delivered+c.Dropped[frame.HostBusy] != n {
				t.Errorf("delivered %d + Host_busy %d != %d", c.Delivered, c.Dropped[frame.HostBusy], n)
			}
			t.Logf("delivered %d in order, Host_busy %d", got.Load(), c.Dropped[frame.HostBusy])
			return
		}
		select {
		case <-progress:
		case <-time.After(20 * time.Millisecond): // re-check; the deadline bounds the test
		case <-deadline:
			t.Fatalf("camera %+v, processor read %d, ERRORs read %d", c, got.Load(), nb.Load())
		}
	}
}

// TestAwayTenantBound: frames for a tenant that is not connected wait in its
// queue up to the bound (less the reserve for the switch's own frames); the
// rest are refused with Host_busy, and the tenant gets exactly the queued
// ones when it connects.
func TestAwayTenantBound(t *testing.T) {
	h := startSwitch(t, Config{QueueLen: 16}) // 14 for tenants' frames, 2 reserved
	cam := h.dial("camera")
	out := make([]frame.Frame, 20)
	for i := range out {
		out[i] = mkFrame(t, frame.TM, 0x010, 0x020, string(rune('A'+i)))
	}
	if err := cam.WriteFrames(out); err != nil {
		t.Fatal(err)
	}
	back := barrier(t, cam, 0x010)
	if len(back) != 6 {
		t.Fatalf("%d frames back, want 6 Host_busy ERRORs", len(back))
	}
	for i, e := range back {
		if want := errorFrame(frame.HostBusy, &out[14+i]); e != want {
			t.Errorf("ERROR %d: %x, want %x", i, e[:16], want[:16])
		}
	}
	c := h.counters("camera")
	if c.Queued != 14 || c.Dropped[frame.HostBusy] != 6 {
		t.Errorf("camera queued %d Host_busy %d", c.Queued, c.Dropped[frame.HostBusy])
	}
	proc := h.dial("processor")
	for i := range 14 {
		if got := readFrame(t, proc); got != out[i] {
			t.Fatalf("frame %d: %x", i, got[:16])
		}
	}
	barrier(t, proc, 0x020) // nothing else was queued for processor
}

// TestRunRefusesLiveSocket: a second switch on the same directory fails to
// start, leaves the first one's sockets alone, and leaks nothing.
func TestRunRefusesLiveSocket(t *testing.T) {
	h := startSwitch(t, Config{})
	sw2, err := New(Config{SocketDir: h.dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sw2.Run(t.Context()); err == nil {
		t.Fatal("second switch started on live sockets")
	}
	h.dial("spaceos") // the first switch still serves
}

// TestHealthFloodTakesNoLocks: HEALTH requests answered from the reader's
// cache do not take the other tenants' locks (issue 14's HEALTH flood took
// them millions of times a second from the tenants forwarding through
// them), and a tenant connecting ends the cache at once. With the
// processor's tenant and queue locks held by the test, a second request
// is answered all the same; before, it waited for the locks.
func TestHealthFloodTakesNoLocks(t *testing.T) {
	old := sysCacheTime
	sysCacheTime = time.Hour // the cache's age plays no part here
	t.Cleanup(func() { sysCacheTime = old })
	h := startSwitch(t, Config{})
	cam := h.dial("camera")
	req := mkFrame(t, frame.Health, 0x013, sysmsg.APIDHealth, "")
	health := func() sysmsg.Health {
		t.Helper()
		cam.WriteFrame(&req)
		f := readFrame(t, cam)
		hl, err := sysmsg.ParseHealth(f.Payload())
		if err != nil {
			t.Fatal(err)
		}
		return hl
	}
	if hl := health(); hl.Tenants[1].Connected {
		t.Fatalf("processor connected before it was: %+v", hl.Tenants)
	}
	proc := h.sw.byName["processor"]
	proc.mu.Lock()
	proc.q.mu.Lock()
	answered := make(chan sysmsg.Health, 1)
	go func() {
		cam.WriteFrame(&req)
		var f frame.Frame
		cam.SetReadDeadline(time.Now().Add(2 * testTimeout))
		cam.ReadFrame(&f)
		hl, _ := sysmsg.ParseHealth(f.Payload())
		answered <- hl
	}()
	select {
	case hl := <-answered:
		answered <- hl
	case <-time.After(testTimeout):
		t.Error("a HEALTH request waited for another tenant's locks")
	}
	proc.q.mu.Unlock()
	proc.mu.Unlock()
	<-answered
	// An event ends the cache: the next answer shows the processor.
	h.dial("processor")
	if hl := health(); !hl.Tenants[1].Connected || hl.Tenants[1].Generation != 1 {
		t.Errorf("after the processor connected: %+v", hl.Tenants)
	}
}

// TestEventOrderOnReconnect: a guest that goes away and comes straight back
// is announced "disconnected" before its successor's "connected", to
// subscribers and to OnEvent alike. Before events were ordered, the new
// connection could be attached and announced while the old one's
// "disconnected" was still on its way, which then reached subscribers
// last: the guest looked gone while it was up (and FuzzProcess found the
// late notice in a later input). The hooks hold the old connection's event
// until the new connection is either announced (the defect) or waits for
// it (the order kept).
func TestEventOrderOnReconnect(t *testing.T) {
	var order []Event // every event OnEvent saw, in order
	var orderMu sync.Mutex
	var hp atomic.Pointer[harness]
	h := startSwitch(t, Config{OnEvent: func(e Event) {
		orderMu.Lock()
		order = append(order, e)
		orderMu.Unlock()
		hp.Load().onEvent(e)
	}})
	hp.Store(h)
	spos := h.dial("spaceos")
	sub := mkFrame(t, frame.Health, 0x100, sysmsg.APIDEvents, "")
	spos.WriteFrame(&sub)
	readFrame(t, spos) // the subscription's ack
	cam := h.dial("camera")

	detached := make(chan struct{}, 1)
	attached := make(chan struct{}, 1)
	waiting := make(chan struct{}, 1)
	hooks := &eventHooks{}
	hooks.detached = func(s *Switch, tenant string) {
		if s != h.sw || tenant != "camera" {
			return
		}
		detached <- struct{}{}
		select {
		case <-attached: // announced before this event: out of order
		case <-waiting:
		case <-time.After(testTimeout):
		}
	}
	hooks.attached = func(s *Switch, tenant string) {
		if s == h.sw && tenant == "camera" {
			attached <- struct{}{}
		}
	}
	hooks.eventsBusy = func(s *Switch) {
		if s == h.sw {
			select {
			case waiting <- struct{}{}:
			default:
			}
		}
	}
	testHooks.Store(hooks)
	t.Cleanup(func() { testHooks.Store(nil) })

	cam.Close()
	select {
	case <-detached:
	case <-time.After(testTimeout):
		t.Fatal("camera's connection never ended")
	}
	h.dial("camera")

	want := []sysmsg.EventNotice{
		{Kind: sysmsg.Connected, Tenant: "camera", FirstAPID: 0x010, Generation: 1},
		{Kind: sysmsg.Disconnected, Tenant: "camera", FirstAPID: 0x010, Generation: 1},
		{Kind: sysmsg.Connected, Tenant: "camera", FirstAPID: 0x010, Generation: 2},
	}
	for i, w := range want {
		f := readFrame(t, spos)
		e, err := sysmsg.ParseEventNotice(f.Payload())
		if err != nil || e != w {
			t.Errorf("notice %d to spaceos: %+v (%v), want %+v", i, e, err, w)
		}
	}
	orderMu.Lock()
	got := order
	orderMu.Unlock()
	if n := len(got); n < 2 || got[n-2] != (Event{Kind: sysmsg.Disconnected, Tenant: "camera", Generation: 1}) || got[n-1] != (Event{Kind: sysmsg.Connected, Tenant: "camera", Generation: 2}) {
		t.Errorf("OnEvent's last events: %+v, want camera disconnected (1) then connected (2)", got)
	}
}
