package apidswitch

import (
	"sync"
	"testing"

	"spacenet/apid/frame"
	"spacenet/apid/policy"
)

// fakeLink is a RemoteLink that records what it is given and refuses with
// refuse when set: a mock isolating the switch from package dtn and dtnd
// (those are tested together in apid/dtn).
type fakeLink struct {
	mu     sync.Mutex
	got    []frame.Frame
	remote []int
	refuse error
	kick   chan struct{}
}

func (l *fakeLink) SendRemote(remote int, f *frame.Frame) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refuse != nil {
		return l.refuse
	}
	l.got = append(l.got, *f)
	l.remote = append(l.remote, remote)
	select {
	case l.kick <- struct{}{}:
	default:
	}
	return nil
}

func (l *fakeLink) frames() ([]frame.Frame, []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]frame.Frame(nil), l.got...), append([]int(nil), l.remote...)
}

// remotePolicy: camera (0x010-0x01F) may send to remote "payload"
// (0x020-0x02F), which may send to camera.
func remotePolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Parse("r.toml", []byte(`
[[tenant]]
name = "camera"
owns = ["0x010-0x01F"]
can_send_to = ["payload"]

[[tenant]]
name = "spaceos"
owns = ["0x100"]

[[remote]]
name = "payload"
owns = ["0x020-0x02F"]
endpoint = "dtn://p/s"
can_send_to = ["camera"]
`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRemoteSend: a tenant's frame for a remote goes to the link (counted
// DeliveredRemote, padding zeroed); a refusal by the link is answered with
// its code; RemoteUndelivered moves a frame to Link_failed and answers it.
func TestRemoteSend(t *testing.T) {
	link := &fakeLink{kick: make(chan struct{}, 1)}
	h := startSwitch(t, Config{Policy: remotePolicy(t), Remote: link})
	cam := h.dial("camera")
	f := mkFrame(t, frame.TM, 0x010, 0x021, "to payload")
	f[200] = 0xEE // padding: must not travel
	if err := cam.WriteFrame(&f); err != nil {
		t.Fatal(err)
	}
	barrier(t, cam, 0x010)
	got, remotes := link.frames()
	want := mkFrame(t, frame.TM, 0x010, 0x021, "to payload")
	if len(got) != 1 || got[0] != want || remotes[0] != 0 {
		t.Fatalf("link got %d frames (%v)", len(got), remotes)
	}
	if c := h.counters("camera"); c.DeliveredRemote != 1 || c.Received != 2 { // and the barrier's HEALTH
		t.Fatalf("%+v", c)
	}

	link.mu.Lock()
	link.refuse = frame.HostBusy
	link.mu.Unlock()
	g := mkFrame(t, frame.TM, 0x011, 0x022, "busy")
	if err := cam.WriteFrame(&g); err != nil {
		t.Fatal(err)
	}
	if e := readFrame(t, cam); e != errorFrame(frame.HostBusy, &g) {
		t.Fatalf("got %v from %v, want Host_busy", e.Type(), e.APID())
	}

	h.sw.RemoteUndelivered(&want, frame.LinkFailed)
	if e := readFrame(t, cam); e != errorFrame(frame.LinkFailed, &want) {
		t.Fatalf("got %v from %v, want Link_failed", e.Type(), e.APID())
	}
	c := h.counters("camera")
	if c.Received != 3 || c.DeliveredRemote != 0 || c.Dropped[frame.HostBusy] != 1 || c.Dropped[frame.LinkFailed] != 1 {
		t.Fatalf("%+v", c)
	}
	h.sw.RemoteUndelivered(&want, frame.LinkFailed) // nothing left to take back
	if s := h.sw.RemoteStats(); s.UndeliveredUnknown != 1 {
		t.Fatalf("%+v", s)
	}
}

// TestRemoteNoLink: without Config.Remote, frames for a remote are refused
// with No_route.
func TestRemoteNoLink(t *testing.T) {
	h := startSwitch(t, Config{Policy: remotePolicy(t)})
	cam := h.dial("camera")
	f := mkFrame(t, frame.TM, 0x010, 0x021, "x")
	if err := cam.WriteFrame(&f); err != nil {
		t.Fatal(err)
	}
	if e := readFrame(t, cam); e != errorFrame(frame.NoRoute, &f) {
		t.Fatalf("got %v, want No_route", e.Type())
	}
}

// TestInjectRemote: frames from a remote are checked as a tenant's: only
// from its own APIDs, only to the tenants it may reach; each refusal is
// counted under the remote and answered back through the link; an ERROR
// from the remote switch (0x000) reaches the local tenant it names.
func TestInjectRemote(t *testing.T) {
	link := &fakeLink{kick: make(chan struct{}, 1)}
	h := startSwitch(t, Config{Policy: remotePolicy(t), Remote: link})
	cam := h.dial("camera")
	ok := mkFrame(t, frame.TC, 0x020, 0x015, "hello camera")
	tests := []struct {
		name string
		f    frame.Frame
		want error
	}{
		{"to camera", ok, nil},
		{"posing as camera", mkFrame(t, frame.TC, 0x010, 0x015, "forged"), frame.APIDNotAllocated},
		{"to spaceos: not allowed", mkFrame(t, frame.TC, 0x020, 0x100, "no"), frame.NotPermitted},
		{"to nobody", mkFrame(t, frame.TC, 0x020, 0x600, "no"), frame.NoRoute},
	}
	for _, tt := range tests {
		f := tt.f
		if err := h.sw.InjectRemote(0, &f); err != tt.want {
			t.Errorf("%s: InjectRemote = %v, want %v", tt.name, err, tt.want)
		}
	}
	if got := readFrame(t, cam); got != ok {
		t.Fatalf("camera got %v from %v", got.Type(), got.APID())
	}
	got, _ := link.frames()
	if len(got) != 3 {
		t.Fatalf("%d answers sent back, want 3", len(got))
	}
	for i, tt := range tests[1:] {
		if want := errorFrame(tt.want.(frame.ErrorCode), &tt.f); got[i] != want {
			t.Errorf("answer %d: not the %v ERROR for %s", i, tt.want, tt.name)
		}
	}
	rc := h.sw.RemoteCounters()[0]
	if rc.Tenant != "payload" || rc.Received != 4 || rc.Delivered+rc.Queued != 1 || rc.DroppedTotal() != 3 || !rc.Balanced() {
		t.Fatalf("%+v", rc)
	}
	// The remote switch's answer to a frame camera sent there.
	sent := mkFrame(t, frame.TM, 0x012, 0x020, "tag")
	e := errorFrame(frame.NotPermitted, &sent)
	if err := h.sw.InjectRemote(0, &e); err != nil {
		t.Fatal(err)
	}
	if got := readFrame(t, cam); got != e {
		t.Fatalf("camera got %v, want the remote's ERROR", got.Type())
	}
	if s := h.sw.RemoteStats(); s.Notices != 1 {
		t.Fatalf("%+v", s)
	}
	if err := h.sw.InjectRemote(5, &ok); err != frame.NoRoute {
		t.Fatalf("no such remote: %v", err)
	}
}
