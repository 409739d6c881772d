package monitor

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/policy"
	"spacenet/apid/sysmsg"
	"spacenet/ops/control"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds blocking reads: a safety net, not a synchronisation.
const testTimeout = 10 * time.Second

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// rig is a running switch with its monitor server.
type rig struct {
	t    *testing.T
	sw   *apidswitch.Switch
	srv  *Server
	dir  string
	stop func() // stops the switch (Run returned)
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir() + "/s"
	p := &policy.Policy{Source: "test", Tenants: []policy.Tenant{
		{Name: "camera", Owns: []policy.Range{{First: 0x010, Last: 0x01F}}, CanSendTo: []string{"processor"}},
		{Name: "processor", Owns: []policy.Range{{First: 0x020, Last: 0x02F}}, CanSendTo: []string{"camera"}},
	}}
	sw, err := apidswitch.New(apidswitch.Config{Policy: p, SocketDir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()
	select {
	case <-sw.Ready():
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
	srv, err := Listen(Path(dir), sw, quiet())
	if err != nil {
		cancel()
		<-done
		t.Fatal(err)
	}
	r := &rig{t: t, sw: sw, srv: srv, dir: dir}
	stopped := false
	r.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	t.Cleanup(func() { srv.Close(); r.stop() })
	return r
}

func (r *rig) guest(name string) *guest.Conn {
	g, err := guest.Dial(r.sw.SocketPath(name))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { g.Close() })
	return g
}

// collect reads a client to its end in a goroutine.
type collected struct {
	frames []apidswitch.TapRecord
	stats  []apidswitch.TapStats
	err    error
}

func collect(c *Client) <-chan collected {
	ch := make(chan collected, 1)
	go func() {
		var res collected
		for {
			e, err := c.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					res.err = err
				}
				ch <- res
				return
			}
			switch e.Kind {
			case KindFrame:
				res.frames = append(res.frames, e.Record)
			case KindStats:
				res.stats = append(res.stats, e.Stats)
			default:
				res.err = errors.New("unexpected record " + string(e.Kind))
			}
		}
	}()
	return ch
}

func mk(t *testing.T, typ frame.Type, src, dst frame.APID, payload []byte) frame.Frame {
	t.Helper()
	var f frame.Frame
	if err := frame.Encode(&f, typ, src, dst, payload); err != nil {
		t.Fatal(err)
	}
	return f
}

const (
	patData    = 40
	patRefused = 3
)

// pattern: camera writes patData frames to processor (read by it),
// patRefused from processor's APID (Apid_not_allocated), then a HEALTH
// request; it reads the ERRORs and the reply. It returns camera's frames
// in, and the ERRORs it gets.
func pattern(t *testing.T, cam, proc *guest.Conn) (in, errs []frame.Frame) {
	t.Helper()
	for i := range patData {
		var p [4]byte
		binary.BigEndian.PutUint32(p[:], uint32(i))
		in = append(in, mk(t, frame.TM, 0x010, 0x020, p[:]))
	}
	for range patRefused {
		f := mk(t, frame.TM, 0x020, 0x020, []byte("spoof"))
		in = append(in, f)
		var e frame.Frame
		frame.EncodeError(&e, frame.APIDNotAllocated, &f)
		errs = append(errs, e)
	}
	in = append(in, mk(t, frame.Health, 0x010, sysmsg.APIDHealth, nil))
	if err := cam.WriteFrames(in); err != nil {
		t.Fatal(err)
	}
	proc.SetReadDeadline(time.Now().Add(testTimeout))
	for i := range patData {
		var f frame.Frame
		if err := proc.ReadFrame(&f); err != nil || f != in[i] {
			t.Fatalf("processor frame %d: %v", i, err)
		}
	}
	cam.SetReadDeadline(time.Now().Add(testTimeout))
	for i := range patRefused + 1 {
		var f frame.Frame
		if err := cam.ReadFrame(&f); err != nil {
			t.Fatal(err)
		}
		if i < patRefused && f != errs[i] || i == patRefused && f.Type() != frame.Health {
			t.Fatalf("camera read %v from %v as its frame %d", f.Type(), f.APID(), i)
		}
	}
	return in, errs
}

// TestMonitorExact: three monitors on one running switch during a known
// pattern. One sees exactly camera's frames both ways, byte for byte and in
// order; one sees processor's frames out only; one, with a 2-frame buffer,
// loses some, and its last Stats record accounts for every one: the Frame
// records it got (Delivered) plus Dropped equal Passed, camera's total. The
// streams end (EOF) after the switch stopped and the server closed: no
// sleep, no polling.
func TestMonitorExact(t *testing.T) {
	r := newRig(t)
	dial := func(req Request) *Client {
		c, err := Dial(Path(r.dir), req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	camC := collect(dial(Request{Tenants: []string{"camera"}}))
	procC := collect(dial(Request{Tenants: []string{"processor"}, Direction: "out"}))
	smallC := collect(dial(Request{Tenants: []string{"camera"}, Buffer: 2}))
	in, errs := pattern(t, r.guest("camera"), r.guest("processor"))
	r.stop()
	if err := r.srv.Close(); err != nil {
		t.Fatal(err)
	}

	cam := <-camC
	if cam.err != nil {
		t.Fatal(cam.err)
	}
	var gotIn, gotOut []frame.Frame
	for _, rec := range cam.frames {
		if rec.Tenant != "camera" {
			t.Errorf("camera's monitor got a frame of %s", rec.Tenant)
		}
		if rec.Out {
			gotOut = append(gotOut, rec.Frame)
		} else {
			gotIn = append(gotIn, rec.Frame)
		}
	}
	if len(gotIn) != len(in) || len(gotOut) != patRefused+1 {
		t.Fatalf("camera's monitor: %d in, %d out; want %d, %d", len(gotIn), len(gotOut), len(in), patRefused+1)
	}
	for i := range in {
		if gotIn[i] != in[i] {
			t.Errorf("camera in %d differs", i)
		}
	}
	for i := range errs {
		if gotOut[i] != errs[i] {
			t.Errorf("camera out %d: %v, want the ERROR", i, gotOut[i].Type())
		}
	}
	if gotOut[patRefused].Type() != frame.Health || gotOut[patRefused].APID() != sysmsg.APIDHealth {
		t.Errorf("camera's last frame out: %v from %v, want the HEALTH reply", gotOut[patRefused].Type(), gotOut[patRefused].APID())
	}
	total := uint64(len(in) + patRefused + 1)
	if want := (apidswitch.TapStats{Passed: total, Delivered: total}); len(cam.stats) != 1 || cam.stats[0] != want {
		t.Errorf("camera's monitor stats %+v, want one record %+v", cam.stats, want)
	}

	proc := <-procC
	if proc.err != nil {
		t.Fatal(proc.err)
	}
	if len(proc.frames) != patData {
		t.Fatalf("processor's monitor: %d frames, want %d", len(proc.frames), patData)
	}
	for i, rec := range proc.frames {
		if rec.Frame != in[i] || !rec.Out || rec.Tenant != "processor" {
			t.Errorf("processor's frame %d differs (out %v, %s)", i, rec.Out, rec.Tenant)
		}
	}

	small := <-smallC
	if small.err != nil {
		t.Fatal(small.err)
	}
	if len(small.stats) == 0 {
		t.Fatal("no Stats record")
	}
	last := small.stats[len(small.stats)-1]
	if last.Passed != total || last.Delivered+last.Dropped != total || last.Delivered != uint64(len(small.frames)) {
		t.Errorf("2-frame monitor: %d frames, last stats %+v; want delivered = frames and delivered + dropped = passed = %d",
			len(small.frames), last, total)
	}
	for i := 1; i < len(small.stats); i++ {
		if small.stats[i].Dropped < small.stats[i-1].Dropped {
			t.Errorf("drops went down: %+v", small.stats)
		}
	}
	// What it got is camera's frames in order, some missing.
	j := 0
	for _, rec := range small.frames {
		for j < len(cam.frames) && cam.frames[j].Frame != rec.Frame {
			j++
		}
		if j == len(cam.frames) {
			t.Fatalf("2-frame monitor: a frame camera's monitor did not see, or out of order")
		}
		j++
	}
	t.Logf("2-frame monitor: %+v", last)
}

// TestMonitorRefused: requests the server refuses get an Error record
// naming the problem; past MaxClients monitors, one more is refused busy.
func TestMonitorRefused(t *testing.T) {
	r := newRig(t)
	path := Path(r.dir)
	_, err := Dial(path, Request{Tenants: []string{"camra"}})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "did you mean camera?") {
		t.Errorf("unknown tenant: %v", err)
	}
	raw := func(line string) string {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(testTimeout))
		io.WriteString(c, line)
		e, err := ReadEvent(bufio.NewReader(c))
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if e.Kind != KindError {
			t.Fatalf("%q: record %c, want an Error", line, e.Kind)
		}
		return e.Err
	}
	for line, want := range map[string]string{
		`{"direction":"up"}` + "\n":        `direction "up"`,
		`{"apids":["0x900"]}` + "\n":       `apids: "0x900"`,
		`{"tenant":["camera"]}` + "\n":     `unknown field "tenant"`,
		`{"buffer":70000}` + "\n":          "buffer 70000",
		`{"tenants":["../x"]}` + "\n":      "not a tenant name",
		`{} {}` + "\n":                     "more than one",
		"{}\n{}\n":                         "bytes after the request line",
		strings.Repeat(" ", MaxRequest+10): "no request line",
	} {
		if got := raw(line); !strings.Contains(got, want) {
			t.Errorf("%q: %q, want it to say %q", line, got, want)
		}
	}
	for _, req := range []Request{{Direction: "up"}, {APIDs: []string{"x"}}, {Buffer: -1}} {
		if _, err := Dial(path, req); err == nil || errors.Is(err, ErrRefused) {
			t.Errorf("%+v: %v, want refused by the client", req, err)
		}
	}
	var clients []*Client
	for range MaxClients {
		c, err := Dial(path, Request{})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	if _, err := Dial(path, Request{}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "busy") {
		t.Errorf("monitor %d: %v, want busy", MaxClients+1, err)
	}
	for _, c := range clients {
		c.Close()
	}
}

// TestMonitorClientDone: a client that says it is done (CloseWrite), or
// writes anything after its request, gets the last Stats record and EOF,
// and its tap is closed: the switch has room for MaxTaps taps again.
func TestMonitorClientDone(t *testing.T) {
	r := newRig(t)
	var clients []*Client
	for range MaxClients {
		c, err := Dial(Path(r.dir), Request{Tenants: []string{"ground"}})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	if _, err := r.sw.Tap(apidswitch.TapFilter{}, 1); !errors.Is(err, apidswitch.ErrTapsBusy) {
		t.Fatalf("tap beside %d monitors: %v", MaxClients, err)
	}
	for i, c := range clients {
		if i%2 == 0 {
			c.CloseWrite()
		} else {
			c.c.Write([]byte("x"))
		}
		res := <-collect(c)
		if res.err != nil || len(res.frames) != 0 || len(res.stats) != 1 || res.stats[0] != (apidswitch.TapStats{}) {
			t.Errorf("after CloseWrite: %+v", res)
		}
		c.Close()
	}
	for range MaxClients {
		tp, err := r.sw.Tap(apidswitch.TapFilter{}, 1)
		if err != nil {
			t.Fatalf("the monitors' taps are still open: %v", err)
		}
		defer tp.Close()
	}
}

// TestMonitorSocket: the socket is 0600 and removed at Close; without a
// server, Dial says so (control.ErrNoServer).
func TestMonitorSocket(t *testing.T) {
	r := newRig(t)
	path := Path(r.dir)
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want a socket 0600", fi.Mode())
	}
	if err := r.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
	if _, err := Dial(path, Request{}); !errors.Is(err, control.ErrNoServer) {
		t.Errorf("no server: %v", err)
	}
	if _, err := Listen(filepath.Join(t.TempDir(), "missing", SocketName), r.sw, quiet()); err == nil {
		t.Error("listening in a missing directory")
	}
}

// TestMonitorStuckNeverStalls: a monitor that never reads what it asked
// for does not hold up the switch: camera's 20000 frames all reach
// processor, the switch refuses none, and the tap counts what it could
// not keep. (The stuck client's stream ends at Close, after
// FinishTimeout.)
func TestMonitorStuckNeverStalls(t *testing.T) {
	r := newRig(t)
	stuck, err := Dial(Path(r.dir), Request{Buffer: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	cam, proc := r.guest("camera"), r.guest("processor")
	const total = 20000
	go func() {
		fs := make([]frame.Frame, 100)
		for i := 0; i < total; i += len(fs) {
			for j := range fs {
				fs[j] = mk(t, frame.TM, 0x010, 0x020, []byte{byte(j)})
			}
			if cam.WriteFrames(fs) != nil {
				return
			}
		}
	}()
	proc.SetReadDeadline(time.Now().Add(testTimeout))
	buf := make([]frame.Frame, 64)
	for got := 0; got < total; {
		n, err := proc.ReadFrames(buf)
		if err != nil {
			t.Fatalf("after %d frames: %v", got, err)
		}
		got += n
	}
	for _, c := range r.sw.Counters() {
		// The last frames may be read before their write is credited:
		// delivered or still counted queued, never dropped.
		if c.Tenant == "camera" && (c.Received != total || c.Delivered+c.Queued != total || c.DroppedTotal() != 0) {
			t.Errorf("camera %+v", c)
		}
	}
}
