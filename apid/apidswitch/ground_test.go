package apidswitch

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/policy"
	"spacenet/apid/sysmsg"
)

// forged returns the frames of issue 14 item 1 that a hostile ground
// injected toward camera (0x010): each claims a source that is not the
// ground's. The switch must refuse every one with Apid_not_allocated.
func forged(t testing.TB) []struct {
	name string
	f    frame.Frame
} {
	var fakeError frame.Frame
	victim := mkFrame(t, frame.TC, 0x010, 0x020, "call")
	frame.EncodeError(&fakeError, frame.NotPermitted, &victim)
	fakeError.SetDest(0x010)
	event := make([]byte, frame.MaxPayload)
	event = event[:sysmsg.PutEventNotice(event, sysmsg.EventNotice{Kind: sysmsg.Disconnected, Tenant: "processor", FirstAPID: 0x020, Generation: 1})]
	var fakeEvent frame.Frame
	if err := frame.Encode(&fakeEvent, frame.Health, sysmsg.APIDEvents, 0x010, event); err != nil {
		t.Fatal(err)
	}
	return []struct {
		name string
		f    frame.Frame
	}{
		{"processor's APID 0x020", mkFrame(t, frame.TC, 0x020, 0x010, "as processor")},
		{"the receiving tenant's own APID", mkFrame(t, frame.TC, 0x010, 0x010, "as camera itself")},
		{"a switch ERROR from 0x000", fakeError},
		{"a processor-disconnected event from 0x002", fakeEvent},
		{"a HEALTH reply from 0x001", mkFrame(t, frame.Health, sysmsg.APIDHealth, 0x010, "\x01\x00")},
		{"system APID 0x00F", mkFrame(t, frame.TM, 0x00F, 0x010, "")},
		{"an APID nobody owns", mkFrame(t, frame.TM, 0x500, 0x010, "")},
		{"the idle APID", mkFrame(t, frame.TM, 0x7FF, 0x010, "")},
	}
}

// TestInjectForgedSources: the ground cannot claim a source APID that is
// not its own. Every forged frame is refused with Apid_not_allocated and
// counted in Ground; camera receives only the ground's genuine frame, which
// is sent last, so that reading it first proves no forged one got through.
func TestInjectForgedSources(t *testing.T) {
	h := startSwitch(t, Config{})
	cam := h.dial("camera")
	fs := forged(t)
	for _, tc := range fs {
		f := tc.f
		if err := h.sw.Inject(&f); !errors.Is(err, frame.APIDNotAllocated) {
			t.Errorf("%s: Inject = %v, want Apid_not_allocated", tc.name, err)
		}
	}
	genuine := mkFrame(t, frame.TC, policy.DefaultGroundAPID, 0x010, "from the ground")
	if err := h.sw.Inject(&genuine); err != nil {
		t.Fatalf("genuine ground frame: %v", err)
	}
	if got := readFrame(t, cam); got != genuine {
		t.Fatalf("camera got %x, want the genuine frame", got[:24])
	}
	barrier(t, cam, 0x010) // nothing else was queued for camera
	g := h.sw.Ground()
	want := Counters{Tenant: "ground", Received: uint64(len(fs) + 1), Delivered: 1}
	want.Dropped[frame.APIDNotAllocated] = uint64(len(fs))
	if g != want {
		t.Errorf("ground counters %+v, want %+v", g, want)
	}
	if c := h.counters("camera"); c.Received != 1 || c.DeliveredSystem != 1 {
		t.Errorf("camera counters %+v: only its barrier", c)
	}
}

// TestInjectGroundPolicy: the ground's own APIDs and can_send_to come from
// the policy.
func TestInjectGroundPolicy(t *testing.T) {
	p := policy.Default()
	p.Ground = policy.Ground{Owns: []policy.Range{{First: 0x7A0, Last: 0x7A1}}, CanSendTo: []string{"processor"}}
	h := startSwitch(t, Config{Policy: p})
	proc := h.dial("processor")
	for _, tc := range []struct {
		f    frame.Frame
		want error
	}{
		{mkFrame(t, frame.TC, 0x7F0, 0x020, "the default APID is not the ground's here"), frame.APIDNotAllocated},
		{mkFrame(t, frame.TC, 0x7A0, 0x010, "camera is not in can_send_to"), frame.NotPermitted},
		{mkFrame(t, frame.TC, 0x7A1, 0x7A0, "to the ground itself"), frame.NoRoute},
		{mkFrame(t, frame.TC, 0x7A1, 0x000, "to 0x000"), frame.NoRoute},
		{mkFrame(t, frame.TC, 0x7A1, 0x020, "ok"), nil},
	} {
		f := tc.f
		if err := h.sw.Inject(&f); !errors.Is(err, tc.want) {
			t.Errorf("Inject(%q) = %v, want %v", f.Payload(), err, tc.want)
		}
	}
	if got := readFrame(t, proc); string(got.Payload()) != "ok" {
		t.Fatalf("processor got %q", got.Payload())
	}
	g := h.sw.Ground()
	if g.Received != 5 || g.Delivered+g.Queued != 1 || g.Dropped[frame.APIDNotAllocated] != 1 ||
		g.Dropped[frame.NotPermitted] != 1 || g.Dropped[frame.NoRoute] != 2 || !g.Balanced() {
		t.Errorf("ground %+v", g)
	}
}

// TestTenantToGroundAPID: a tenant's frame to the ground's APID goes to the
// downlink; without one it is refused with No_route. No tenant sends from the
// ground's APID.
func TestTenantToGroundAPID(t *testing.T) {
	fu := &frameDownlink{}
	h := startSwitch(t, Config{DownlinkFrames: fu})
	cam := h.dial("camera")
	up := mkFrame(t, frame.TM, 0x010, policy.DefaultGroundAPID, "to the ground")
	spoof := mkFrame(t, frame.TM, policy.DefaultGroundAPID, 0x020, "as the ground")
	cam.WriteFrames([]frame.Frame{up, spoof})
	if got, want := readFrame(t, cam), errorFrame(frame.APIDNotAllocated, &spoof); got != want {
		t.Fatalf("got %x, want the ERROR for the spoofed frame", got[:24])
	}
	barrier(t, cam, 0x010)
	if got := fu.taken(); len(got) != 1 || got[0] != up {
		t.Fatalf("downlink took %d frames", len(got))
	}

	h2 := startSwitch(t, Config{})
	cam2 := h2.dial("camera")
	cam2.WriteFrame(&up)
	if got, want := readFrame(t, cam2), errorFrame(frame.NoRoute, &up); got != want {
		t.Fatalf("without downlink: got %x, want No_route", got[:24])
	}
}

// frameDownlink is a Config.DownlinkFrames that keeps copies of what it took
// and refuses every frame whose payload starts with "refuse".
type frameDownlink struct {
	mu     sync.Mutex
	frames []frame.Frame
}

func (u *frameDownlink) SendFrame(f *frame.Frame) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if string(f.Payload()) == "refuse" {
		return errors.New("link down")
	}
	u.frames = append(u.frames, *f)
	return nil
}

func (u *frameDownlink) taken() []frame.Frame {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]frame.Frame(nil), u.frames...)
}

// TestDownlinkFrames: Config.DownlinkFrames takes ground-bound frames raw, in
// order, with the padding zeroed; a refusal is counted and answered as one
// of Config.Downlink is.
func TestDownlinkFrames(t *testing.T) {
	fu := &frameDownlink{}
	h := startSwitch(t, Config{DownlinkFrames: fu})
	cam := h.dial("camera")
	a := mkFrame(t, frame.TM, 0x011, 0x000, "first")
	b := mkFrame(t, frame.TC, 0x012, 0x500, "second, to nobody")
	refused := mkFrame(t, frame.TM, 0x013, 0x000, "refuse")
	sent := []frame.Frame{a, b, refused}
	for i := frame.HeaderSize + len("first"); i < frame.Size; i++ {
		sent[0][i] = 0xAA // must not leave the switch
	}
	if err := cam.WriteFrames(sent); err != nil {
		t.Fatal(err)
	}
	if got, want := readFrame(t, cam), errorFrame(frame.LinkFailed, &refused); got != want {
		t.Fatalf("got %x, want Link_failed for the refused frame", got[:24])
	}
	got := fu.taken()
	if len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("downlink took %d frames: %x", len(got), got)
	}
	c := h.counters("camera")
	if c.Received != 3 || c.DeliveredGround != 2 || c.Dropped[frame.LinkFailed] != 1 || h.sw.DownlinkFailures() != 1 {
		t.Errorf("camera %+v, downlink failures %d", c, h.sw.DownlinkFailures())
	}
}

func TestDownlinkBothSet(t *testing.T) {
	_, err := New(Config{Downlink: &fakeDownlink{}, DownlinkFrames: &frameDownlink{}})
	if err == nil || err.Error() != "apidswitch: Config.Downlink and Config.DownlinkFrames are both set; give the ground link one of them" {
		t.Errorf("New with both downlinks: %v", err)
	}
}

// TestReloadKeepsRemovedCounters: a tenant removed by a reload stays in
// Counters (Removed), and when a reload brings it back it carries on from
// its counters and generation.
func TestReloadKeepsRemovedCounters(t *testing.T) {
	h := startSwitch(t, Config{})
	cam := h.dial("camera")
	proc := h.dial("processor")
	fs := []frame.Frame{mkFrame(t, frame.TM, 0x010, 0x020, "1"), mkFrame(t, frame.TM, 0x010, 0x020, "2")}
	cam.WriteFrames(fs)
	readFrame(t, proc)
	readFrame(t, proc)
	barrier(t, cam, 0x010)
	before := h.counters("camera")
	if before.Received != 3 || before.Generation != 1 {
		t.Fatalf("camera before %+v", before)
	}

	without := policy.Default()
	without.Tenants = without.Tenants[1:]
	without.Tenants[0].CanSendTo = []string{"spaceos"}
	without.Tenants[1].CanSendTo = []string{"processor"}
	if err := h.sw.Reload(without); err != nil {
		t.Fatal(err)
	}
	h.waitEvent("camera", sysmsg.Disconnected)
	cs := h.sw.Counters()
	if len(cs) != 3 || cs[2].Tenant != "camera" || !cs[2].Removed || cs[0].Removed || cs[1].Removed {
		t.Fatalf("counters after removal: %+v", cs)
	}
	// As a sender nothing changed (its notices may still be being credited).
	if g := cs[2]; g.Received != before.Received || g.Delivered != before.Delivered ||
		g.DeliveredSystem != before.DeliveredSystem || g.Queued != before.Queued ||
		g.Dropped != before.Dropped || g.Generation != 1 || g.Connected {
		t.Errorf("removed camera %+v, want the counters of %+v", g, before)
	}
	if _, err := os.Stat(h.sw.SocketPath("camera")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("camera socket still there: %v", err)
	}

	if err := h.sw.Reload(policy.Default()); err != nil {
		t.Fatal(err)
	}
	cs = h.sw.Counters()
	if len(cs) != 3 || cs[0].Tenant != "camera" || cs[0].Removed || cs[0].Received != 3 || cs[0].Generation != 1 {
		t.Fatalf("counters after the return: %+v", cs)
	}
	cam = h.dial("camera")
	if e := h.counters("camera"); e.Generation != 2 {
		t.Errorf("camera generation %d after coming back, want 2", e.Generation)
	}
	f := mkFrame(t, frame.TM, 0x010, 0x020, "back")
	cam.WriteFrame(&f)
	if got := readFrame(t, proc); got != f {
		t.Fatalf("processor got %x", got[:16])
	}
	barrier(t, cam, 0x010)
	if c := h.counters("camera"); c.Received != 5 || c.Delivered+c.Queued != 3 || c.DeliveredSystem != 2 {
		t.Errorf("camera after its return %+v", c)
	}
}

// outq is SIOCOUTQ on fd: what the kernel still holds of what was written.
func outq(t *testing.T, fd int) int {
	v, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		t.Fatalf("SIOCOUTQ: %v", err)
	}
	return v
}

// TestDeliveredMeansHandedToSocket pins what Delivered means: handed to
// the guest's socket. A guest that closes without reading its frames
// leaves them counted Delivered, and the kernel fact that keeps the switch
// from counting them apart holds: SIOCOUTQ on the switch's side is a
// buffer size, not a byte count, and is 0 once the guest has closed.
func TestDeliveredMeansHandedToSocket(t *testing.T) {
	h := startSwitch(t, Config{})
	cam := h.dial("camera")
	proc := h.dial("processor")
	fs := []frame.Frame{mkFrame(t, frame.TM, 0x010, 0x020, "a"), mkFrame(t, frame.TM, 0x010, 0x020, "b"), mkFrame(t, frame.TM, 0x010, 0x020, "c")}
	cam.WriteFrames(fs)
	barrier(t, cam, 0x010)
	// The guest stops sending: the switch writes what is queued for it,
	// then ends the connection; the guest never reads and closes.
	proc.CloseWrite()
	h.waitEvent("processor", sysmsg.Disconnected)
	proc.Close()
	if c := h.counters("camera"); c.Delivered != 3 || c.Queued != 0 {
		t.Errorf("camera %+v: the 3 unread frames count as Delivered", c)
	}

	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sw, guest := fds[0], fds[1]
	defer syscall.Close(sw)
	var f [3 * frame.Size]byte
	if n, err := syscall.Write(sw, f[:]); n != len(f) || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if q := outq(t, sw); q <= len(f) {
		t.Errorf("SIOCOUTQ = %d with %d bytes unread: expected the kernel's buffer size, above the bytes", q, len(f))
	}
	syscall.Close(guest)
	if q := outq(t, sw); q != 0 {
		t.Errorf("SIOCOUTQ = %d after the guest closed, want 0", q)
	}
	var b [1]byte
	if _, err := syscall.Read(sw, b[:]); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read after the guest closed with data unread: %v, want ECONNRESET", err)
	}
}

func TestLayoutInvalid(t *testing.T) {
	_, err := New(Config{Layout: ccsds.Spacenet + 1})
	if err == nil || err.Error() != "apidswitch: Config.Layout Layout(3): want ccsds.Plain, CFS or Spacenet" {
		t.Errorf("New with layout 3: %v", err)
	}
}
