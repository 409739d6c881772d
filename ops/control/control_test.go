package control_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"spacenet/apid/apidswitch"
	"spacenet/apid/apidswitch/switchbench"
	"spacenet/ops/control"
	"spacenet/ops/control/controltest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// harness is an in-process APID switch (v0 policy, real sockets) with its
// control socket open.
type harness struct {
	dir string
	sw  *apidswitch.Switch
	srv *control.Server
}

func start(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	sw, stop, err := switchbench.Start(context.Background(), apidswitch.Config{SocketDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	src := &control.APIDSource{Switch: sw}
	srv, err := control.Listen(control.Path(dir), func() any { return src.Snapshot() }, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &harness{dir: dir, sw: sw, srv: srv}
}

func tenantNamed(t *testing.T, s *control.APID, name string) *control.Tenant {
	t.Helper()
	for i := range s.Tenants {
		if s.Tenants[i].Name == name {
			return &s.Tenants[i]
		}
	}
	t.Fatalf("no tenant %q in %+v", name, s.Tenants)
	return nil
}

// TestSnapshotCounts plays the known pattern and reads exact counts through
// the control socket.
func TestSnapshotCounts(t *testing.T) {
	h := start(t)
	g, err := controltest.Run(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var s control.APID
	if err := control.Fetch(control.Path(h.dir), &s); err != nil {
		t.Fatal(err)
	}
	if s.Plane != "apid" || s.SocketDir != h.dir || s.Policy != "built-in v0" || len(s.Tenants) != 3 {
		t.Fatalf("snapshot header %+v", s)
	}
	cam := tenantNamed(t, &s, "camera")
	want := control.Tenant{
		Name: "camera", APIDs: []string{"0x010-0x01F"}, CanSendTo: []string{"processor", "spaceos"}, MayDownlink: true,
		Generation: 1, Connected: true,
		Received:  controltest.Sent + controltest.Spoofed + controltest.Healths,
		Delivered: controltest.Sent, DeliveredSystem: controltest.Healths,
		DroppedTotal:  controltest.Spoofed,
		NoticesQueued: controltest.Spoofed + controltest.Healths,
	}
	checkTenant(t, cam, &want, "Apid_not_allocated")
	proc := tenantNamed(t, &s, "processor")
	want = control.Tenant{
		Name: "processor", APIDs: []string{"0x020-0x02F"}, CanSendTo: []string{"camera", "spaceos"}, MayDownlink: true,
		Generation: 1, Connected: true,
		Received: controltest.Healths, DeliveredSystem: controltest.Healths,
		NoticesQueued: controltest.Healths,
	}
	checkTenant(t, proc, &want, "")
	if os := tenantNamed(t, &s, "spaceos"); os.Connected || os.Received != 0 || os.Generation != 0 {
		t.Errorf("spaceos %+v", os)
	}
	if s.Ground.Name != "ground" || s.Ground.Received != 0 || strings.Join(s.Ground.APIDs, ",") != "0x7F0" {
		t.Errorf("ground %+v", s.Ground)
	}
	if s.Uplink != nil || s.Downlink != nil {
		t.Errorf("no ground link, yet uplink %+v downlink %+v", s.Uplink, s.Downlink)
	}
	wantEdges := []control.Edge{{From: "camera", To: "processor", Frames: controltest.Sent}}
	if fmt.Sprint(s.Edges) != fmt.Sprint(wantEdges) || s.EdgeFrames("camera", "processor") != controltest.Sent || s.EdgeFrames("processor", "camera") != 0 {
		t.Errorf("edges %v, want %v", s.Edges, wantEdges)
	}
}

// checkTenant compares got with want; want.Dropped is built here: every
// code 0 but reason, which holds want.DroppedTotal. The last notice may be
// counted delivered only just after the guest read it (the writer credits
// after its write returns), so NoticesDelivered is NoticesQueued or one
// less; the queue may still hold that frame.
func checkTenant(t *testing.T, got, want *control.Tenant, reason string) {
	t.Helper()
	if got.NoticesDelivered != want.NoticesQueued && got.NoticesDelivered+1 != want.NoticesQueued {
		t.Errorf("%s: notices delivered %d, queued %d", got.Name, got.NoticesDelivered, want.NoticesQueued)
	}
	if got.QueueLen > 1 {
		t.Errorf("%s: queue %d", got.Name, got.QueueLen)
	}
	for code, n := range got.Dropped {
		w := uint64(0)
		if code == reason {
			w = want.DroppedTotal
		}
		if n != w {
			t.Errorf("%s: dropped %s = %d, want %d", got.Name, code, n, w)
		}
	}
	if len(got.Dropped) != 10 {
		t.Errorf("%s: %d drop reasons, want every code (10)", got.Name, len(got.Dropped))
	}
	c := *got
	c.Dropped, c.NoticesDelivered, c.QueueLen = nil, 0, 0
	if strings.Join(c.APIDs, ",") != strings.Join(want.APIDs, ",") || strings.Join(c.CanSendTo, ",") != strings.Join(want.CanSendTo, ",") {
		t.Errorf("%s: apids %v can_send_to %v", got.Name, c.APIDs, c.CanSendTo)
	}
	c.APIDs, c.CanSendTo = want.APIDs, want.CanSendTo
	if c.Name != want.Name || c.Generation != want.Generation || c.Connected != want.Connected || c.MayDownlink != want.MayDownlink ||
		c.Received != want.Received || c.Delivered != want.Delivered || c.DeliveredSystem != want.DeliveredSystem ||
		c.DeliveredGround != 0 || c.Queued != 0 || c.Held != 0 || c.DroppedTotal != want.DroppedTotal ||
		c.NoticesQueued != want.NoticesQueued || c.NoticesLost != 0 {
		t.Errorf("%s:\n got %+v\nwant %+v", got.Name, c, *want)
	}
}

// TestSocketFile: mode 0600 in the switch's directory, removed at Close.
func TestSocketFile(t *testing.T) {
	h := start(t)
	fi, err := os.Lstat(h.srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 || filepath.Base(h.srv.Path()) != ".control" {
		t.Fatalf("%s: %v", h.srv.Path(), fi.Mode())
	}
	h.srv.Close()
	if _, err := os.Lstat(h.srv.Path()); !os.IsNotExist(err) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestListenRefuses: a live server's socket, a file that is not a socket,
// an unsafe directory; a stale socket is replaced.
func TestListenRefuses(t *testing.T) {
	snap := func() any { return 1 }
	dir := t.TempDir()
	path := control.Path(dir)
	srv, err := control.Listen(path, snap, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := control.Listen(path, snap, quiet); err == nil || !strings.Contains(err.Error(), "another switch answers") {
		t.Errorf("second server on a live socket: %v", err)
	}
	srv.Close()

	// A stale socket: bound, never listened on (no server answers).
	fd, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	fd.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatal(err)
	}
	srv, err = control.Listen(path, snap, quiet)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	var n int
	if err := control.Fetch(path, &n); err != nil || n != 1 {
		t.Errorf("Fetch: %d, %v", n, err)
	}
	srv.Close()

	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := control.Listen(path, snap, quiet); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: %v", err)
	}
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o777)
	if _, err := control.Listen(control.Path(open), snap, quiet); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("directory 0777: %v", err)
	}
	if err := control.Fetch(filepath.Join(dir, "none"), &n); err == nil || !strings.Contains(err.Error(), "is the switch running") {
		t.Errorf("Fetch without a server: %v", err)
	}
}

// TestOtherUserGetsNothing: even with the socket file opened to everyone
// (a mode mistake), a peer of another uid gets no answer (SO_PEERCRED).
// Needs root (to run the client as nobody) and socat.
func TestOtherUserGetsNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	socat, err := exec.LookPath("socat")
	if err != nil {
		t.Skip("socat not installed (scripts/deps.sh installs it)")
	}
	dir := t.TempDir()
	// t.TempDir is DIR/NNN in a per-test DIR, both 0700: let nobody through.
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	path := control.Path(dir)
	srv, err := control.Listen(path, func() any { return "secret" }, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	client := func(uid uint32) string {
		cmd := exec.Command(socat, "-u", "UNIX-CONNECT:"+path, "-")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("socat as uid %d: %v\n%s", uid, err, out)
		}
		return string(out)
	}
	if got := client(65534); got != "" {
		t.Errorf("uid 65534 got %q", got)
	}
	if got := client(0); got != "\"secret\"\n" {
		t.Errorf("root got %q", got)
	}
}
