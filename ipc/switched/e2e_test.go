package switched

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"spacenet/apid/apidswitch"
	"spacenet/apid/policy"
	"sync"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/ipc"
)

// TestReplyKinds calls every op of Camera through the switch: ok values,
// CLike and Complex errors, Simple replies, read and write leases.
func TestReplyKinds(t *testing.T) {
	ce := startCamera(t)
	ctx := ctxT(t)
	c := ce.client

	id, err := c.Capture(ctx, 2000)
	if err != nil || id != 1 {
		t.Fatalf("Capture = %d, %v", id, err)
	}
	if _, err := c.Capture(ctx, 0); err != cameraipc.CameraErrorBadExposure {
		t.Fatalf("Capture(0) error = %#v, want CameraErrorBadExposure", err)
	}
	if err := c.SetMode(ctx, cameraipc.CameraModeScience); err != nil {
		t.Fatalf("SetMode: %v", err)
	}
	st, err := c.Status(ctx)
	if want := (cameraipc.CameraStatus{Mode: cameraipc.CameraModeScience, Frames: 1, TemperatureMc: -12500}); err != nil || st != want {
		t.Fatalf("Status = %+v, %v; want %+v", st, err, want)
	}
	mode, err := c.Configure(ctx, cameraipc.CaptureConfig{Binning: 2})
	if err != nil || mode != cameraipc.CameraModeScience {
		t.Fatalf("Configure = %v, %v", mode, err)
	}
	_, err = c.Configure(ctx, cameraipc.CaptureConfig{Binning: 3})
	var cfgErr cameraipc.ConfigError
	if !errors.As(err, &cfgErr) || cfgErr.Variant != cameraipc.ConfigErrorUnsupportedBinning || cfgErr.UnsupportedBinning != 3 {
		t.Fatalf("Configure(binning 3) error = %#v", err)
	}
	table := bytes.Repeat([]byte("calib"), 800) // 4000 bytes: 18 frames
	sum, err := c.UploadCalibration(ctx, table)
	if err != nil || sum != camsim.Checksum(table) {
		t.Fatalf("UploadCalibration = %#x, %v; want %#x", sum, err, camsim.Checksum(table))
	}
	bins := make([]uint32, 256)
	if err := c.Histogram(ctx, bins); err != nil {
		t.Fatalf("Histogram: %v", err)
	}
	var total uint32
	for _, b := range bins {
		total += b
	}
	if total != camsim.ImageSize {
		t.Fatalf("histogram counts %d pixels, want %d", total, camsim.ImageSize)
	}
	// The whole picture, through two write leases (64 KiB + the rest).
	img := make([]byte, camsim.ImageSize)
	got := 0
	for got < len(img) {
		n, err := c.ReadImage(ctx, id, uint32(got), img[got:min(got+65536, len(img))])
		if err != nil {
			t.Fatalf("ReadImage at %d: %v", got, err)
		}
		got += int(n)
	}
	for i := range img {
		if img[i] != camsim.Pixel(id, 2000, i) {
			t.Fatalf("pixel %d = %#x, want %#x", i, img[i], camsim.Pixel(id, 2000, i))
		}
	}
	if _, err := c.ReadImage(ctx, 9, 0, img[:10]); err != cameraipc.CameraErrorNoSuchFrame {
		t.Fatalf("ReadImage(9) error = %v", err)
	}
	if err := c.Reset(ctx); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if st := ce.proc.Stats(); st.Stray != 0 || st.Calls != st.Replies {
		t.Fatalf("client stats %+v", st)
	}
}

// TestRuntimeFaults checks that every runtime error of spec section 2
// reaches the caller as a typed error, through the switch.
func TestRuntimeFaults(t *testing.T) {
	ce := startCamera(t)
	// A server whose handler fails with a plain error: ServerDeath.
	failing, err := ce.camN.Serve(ServerConfig{APID: 0x012, Handler: ipc.HandlerFunc(
		func(ctx context.Context, caller ipc.Caller, req *ipc.Request, rep *ipc.Reply) error {
			return errors.New("sensor on fire")
		})})
	if err != nil {
		t.Fatal(err)
	}
	run(t, failing, nil)
	ctx := ctxT(t)
	cl := ce.proc.Client(cameraAPID)
	u32 := []byte{1, 0, 0, 0}
	for _, tc := range []struct {
		name string
		cl   *Client
		req  ipc.Request
		want ipc.Fault
	}{
		{"unknown op", cl, ipc.Request{Op: 99, ReplyCap: 64}, ipc.UnknownOperation},
		{"op 0", cl, ipc.Request{Op: 0, ReplyCap: 64}, ipc.UnknownOperation},
		{"args too short", cl, ipc.Request{Op: cameraipc.CameraOpCapture, Args: u32[:3], ReplyCap: 4}, ipc.BadMessageContents}, // Zerocopy wrong length, as upstream,
		{"args too long", cl, ipc.Request{Op: cameraipc.CameraOpCapture, Args: make([]byte, 64), ReplyCap: 4}, ipc.BadMessageSize},
		{"bad enum", cl, ipc.Request{Op: cameraipc.CameraOpSetMode, Args: []byte{7}, ReplyCap: 0}, ipc.BadMessageContents},
		{"missing lease", cl, ipc.Request{Op: cameraipc.CameraOpReadImage, Args: make([]byte, 8), ReplyCap: 4}, ipc.BadLease},
		{"lease without write", cl, ipc.Request{Op: cameraipc.CameraOpReadImage, Args: make([]byte, 8), ReplyCap: 4,
			Leases: []ipc.Lease{{Read: true, Data: make([]byte, 8)}}}, ipc.BadLease},
		{"reply buffer", cl, ipc.Request{Op: cameraipc.CameraOpCapture, Args: u32, ReplyCap: 3}, ipc.ReplyBufferTooSmall},
		{"no server on APID", ce.proc.Client(0x011), ipc.Request{Op: 1, ReplyCap: 4}, ipc.WentAway},
		{"no tenant owns APID", ce.proc.Client(0x500), ipc.Request{Op: 1, ReplyCap: 4}, ipc.WentAway},
		{"server failure", ce.proc.Client(0x012), ipc.Request{Op: 1, ReplyCap: 4}, ipc.ServerDeath},
	} {
		var rep ipc.Reply
		err := tc.cl.Call(ctx, &tc.req, &rep)
		if f, ok := ipc.AsFault(err); !ok || f != tc.want {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
	// The camera still works, and nothing was counted as stray.
	if _, err := ce.client.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if st := ce.proc.Stats(); st.Stray != 0 {
		t.Fatalf("stray replies: %+v", st)
	}
	if got := ce.camN.Stats().FaultsSent[ipc.WentAway]; got != 1 {
		t.Fatalf("runtime WentAway answers = %d, want 1", got)
	}
	if st := failing.Stats(); st.Failures != 1 {
		t.Fatalf("failing server stats %+v", st)
	}
}

// TestLeaseMaxLen: a lease of exactly max_len elements works, max_len+1 is
// refused by the generated client before sending and, sent by hand, by the
// server with BadLease.
func TestLeaseMaxLen(t *testing.T) {
	ce := startCamera(t)
	ctx := ctxT(t)
	id, err := ce.client.Capture(ctx, 500)
	if err != nil {
		t.Fatal(err)
	}
	sink := make([]byte, 65537)
	n, err := ce.client.ReadImage(ctx, id, 0, sink[:65536])
	if err != nil || n != 65536 {
		t.Fatalf("ReadImage(65536) = %d, %v", n, err)
	}
	for i := range 65536 {
		if sink[i] != camsim.Pixel(id, 500, i) {
			t.Fatalf("pixel %d differs", i)
		}
	}
	var tooLong *ipc.LeaseTooLongError
	if _, err := ce.client.ReadImage(ctx, id, 0, sink); !errors.As(err, &tooLong) || !errors.Is(err, ipc.BadLease) {
		t.Fatalf("ReadImage(65537) error = %v", err)
	}
	table := make([]byte, 4097)
	if _, err := ce.client.UploadCalibration(ctx, table[:4096]); err != nil {
		t.Fatalf("UploadCalibration(4096): %v", err)
	}
	if _, err := ce.client.UploadCalibration(ctx, table); !errors.Is(err, ipc.BadLease) {
		t.Fatalf("UploadCalibration(4097) error = %v", err)
	}
	bins := make([]uint32, 257)
	if err := ce.client.Histogram(ctx, bins[:256]); err != nil {
		t.Fatalf("Histogram(256): %v", err)
	}
	// By hand, past the generated client's check: the server refuses.
	cl := ce.proc.Client(cameraAPID)
	args := []byte{byte(id), 0, 0, 0, 0, 0, 0, 0}
	for _, tc := range []struct {
		name string
		req  ipc.Request
	}{
		{"read_image 65537", ipc.Request{Op: cameraipc.CameraOpReadImage, Args: args, ReplyCap: 4,
			Leases: []ipc.Lease{{Write: true, Data: make([]byte, 65537)}}}},
		{"upload_calibration 4097", ipc.Request{Op: cameraipc.CameraOpUploadCalibration, ReplyCap: 4,
			Leases: []ipc.Lease{{Read: true, Data: table}}}},
		{"histogram 257", ipc.Request{Op: cameraipc.CameraOpHistogram, ReplyCap: 0,
			Leases: []ipc.Lease{{Write: true, Data: make([]byte, 257*4)}}}},
		{"histogram partial element", ipc.Request{Op: cameraipc.CameraOpHistogram, ReplyCap: 0,
			Leases: []ipc.Lease{{Write: true, Data: make([]byte, 10)}}}},
	} {
		var rep ipc.Reply
		if err := cl.Call(ctx, &tc.req, &rep); !errors.Is(err, ipc.BadLease) {
			t.Errorf("%s: error %v, want BadLease", tc.name, err)
		}
	}
	// The max_len+1 write lease travelled as a length only: its reply
	// would have been the big one. A read lease of 4097 bytes did travel
	// (19 frames) and was reassembled before the dispatcher refused it.
	if st := ce.camN.Stats().Reassembly; st.Partial != 0 || st.Buffered != 0 {
		t.Fatalf("reassembly left state: %+v", st)
	}
}

// TestRestrictChecked: Serve refuses restrictions naming a tenant the
// policy does not have or an op the interface does not have, naming them
// (issue 21: a misspelt tenant locked the op for everyone, an unknown op
// code restricted nothing); the ops come from ServerConfig.Ops or the
// handler's OpNames. A generated pipelined dispatcher's own options and op
// names are checked as an InOrder dispatcher's are (they were not: a
// pipelined server was a bare function). A typed nil Handler or Pipelined
// is refused, naming the field (Serve panicked, or the first call did).
func TestRestrictChecked(t *testing.T) {
	e := startSwitch(t, nil)
	n, err := NewNode(Config{Socket: e.sw.SocketPath("camera"), Tenant: "camera", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	disp := cameraipc.NewCameraDispatcher(&camsim.Camera{})
	if got := disp.OpNames(); !slices.Equal(got, cameraOps) {
		t.Fatalf("generated OpNames = %q, want %q", got, cameraOps)
	}
	for _, tc := range []struct {
		name string
		cfg  ServerConfig
		want string
	}{
		{"misspelt tenant", ServerConfig{Handler: disp, Ops: cameraOps,
			Restrict: []ipc.DispatchOption{ipc.Restrict(cameraipc.CameraOpCapture, "procesor")}},
			`switched: server on 0x010: ipc: Restrict(1 capture, "procesor"): no tenant "procesor" in the policy (did you mean "processor"?)`},
		{"unknown op, ops from ServerConfig.Ops", ServerConfig{Handler: disp, Ops: cameraOps,
			Restrict: []ipc.DispatchOption{ipc.Restrict(9, "processor")}},
			`switched: server on 0x010: ipc: Restrict(9): no op 9 (the interface has ops 1-8)`},
		{"unknown op, ops from the generated dispatcher", ServerConfig{Handler: disp,
			Restrict: []ipc.DispatchOption{ipc.Restrict(12, "processor")}},
			`switched: server on 0x010: ipc: Restrict(12): no op 12 (the interface has ops 1-8)`},
		{"pipelined", ServerConfig{Pipelined: PipelinedFunc(func(context.Context, *Call) {}), Ops: cameraOps,
			Restrict: []ipc.DispatchOption{ipc.Restrict(2, "spaceOS")}},
			`switched: server on 0x010: ipc: Restrict(2 read_image, "spaceOS"): no tenant "spaceOS" in the policy (did you mean "spaceos"?)`},
		{"dispatcher's own options, misspelt tenant", ServerConfig{Handler: cameraipc.NewCameraDispatcher(&camsim.Camera{},
			ipc.Restrict(cameraipc.CameraOpReset, "spaceso"))},
			`switched: server on 0x010: dispatcher: ipc: Restrict(8 reset, "spaceso"): no tenant "spaceso" in the policy (did you mean "spaceos"?)`},
		{"dispatcher's own options, unknown op", ServerConfig{Handler: cameraipc.NewCameraDispatcher(&camsim.Camera{},
			ipc.Restrict(42, "processor"))},
			`switched: server on 0x010: dispatcher: ipc: Restrict(42): no op 42 (the interface has ops 1-8)`},
		// The impl is never called: Serve refuses the server or it is not run.
		{"pipelined dispatcher's own options, misspelt tenant and unknown op", ServerConfig{Pipelined: cameraipc.NewCameraPipelined(nil,
			ipc.Restrict(cameraipc.CameraOpReset, "spaceso"), ipc.Restrict(42, "processor"))},
			`switched: server on 0x010: dispatcher: ipc: Restrict(8 reset, "spaceso"): no tenant "spaceso" in the policy (did you mean "spaceos"?)` + "\n" +
				`ipc: Restrict(42): no op 42 (the interface has ops 1-8)`},
		{"unknown op, ops from the generated pipelined dispatcher", ServerConfig{Pipelined: cameraipc.NewCameraPipelined(nil),
			Restrict: []ipc.DispatchOption{ipc.Restrict(9, "processor")}},
			`switched: server on 0x010: ipc: Restrict(9): no op 9 (the interface has ops 1-8)`},
		// A typed nil passed the "exactly one" check and Serve panicked
		// in Restrictions (or the first call did, for a nil func).
		{"nil pipelined dispatcher", ServerConfig{Pipelined: (*cameraipc.CameraPipelined)(nil)},
			`switched: ServerConfig.Pipelined is a nil *cameraipc.CameraPipelined`},
		{"nil dispatcher", ServerConfig{Handler: (*cameraipc.CameraDispatcher)(nil)},
			`switched: ServerConfig.Handler is a nil *cameraipc.CameraDispatcher`},
		{"nil PipelinedFunc", ServerConfig{Pipelined: PipelinedFunc(nil)},
			`switched: ServerConfig.Pipelined is a nil switched.PipelinedFunc`},
		{"nil HandlerFunc", ServerConfig{Handler: ipc.HandlerFunc(nil)},
			`switched: ServerConfig.Handler is a nil ipc.HandlerFunc`},
		{"valid pipelined", ServerConfig{Pipelined: cameraipc.NewCameraPipelined(nil, ipc.Restrict(cameraipc.CameraOpReset, "spaceos")),
			Restrict: []ipc.DispatchOption{ipc.Restrict(cameraipc.CameraOpCapture, "processor")}}, ""},
		{"valid", ServerConfig{Handler: cameraipc.NewCameraDispatcher(&camsim.Camera{}, ipc.Restrict(cameraipc.CameraOpReset, "spaceos")),
			Restrict: []ipc.DispatchOption{ipc.Restrict(cameraipc.CameraOpCapture, "processor", "spaceos")}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.APID = cameraAPID
			s, err := n.Serve(tc.cfg)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("Serve:\n got %s\nwant %s", got, tc.want)
			}
			if s != nil {
				s.stopped.Store(true) // unregister: the next case serves the same APID
			}
		})
	}
}

// TestRestricted: capture is restricted to the processor. The processor
// may call it; spaceos is answered AccessViolation by the runtime and the
// camera never sees the call.
func TestRestricted(t *testing.T) {
	ce := startCamera(t, ipc.Restrict(cameraipc.CameraOpCapture, "processor"))
	captures := 0
	var mu sync.Mutex
	ce.cam.Hook = func(ctx context.Context, op string) {
		mu.Lock()
		if op == "capture" {
			captures++
		}
		mu.Unlock()
	}
	ctx := ctxT(t)
	if _, err := ce.client.Capture(ctx, 100); err != nil {
		t.Fatalf("processor Capture: %v", err)
	}
	spaceos := ce.node("spaceos", nil)
	sc := cameraipc.NewCameraClient(spaceos.Client(cameraAPID))
	if _, err := sc.Capture(ctx, 100); !errors.Is(err, ipc.AccessViolation) {
		t.Fatalf("spaceos Capture error = %v, want AccessViolation", err)
	}
	// Unrestricted ops stay open to spaceos.
	if _, err := sc.Status(ctx); err != nil {
		t.Fatalf("spaceos Status: %v", err)
	}
	// A big restricted request is refused from its first frame: the rest is
	// never buffered (its segments are counted as orphans).
	var rep ipc.Reply
	big := ipc.Request{Op: cameraipc.CameraOpCapture, Args: make([]byte, 4), ReplyCap: 4,
		Leases: []ipc.Lease{{Read: true, Data: make([]byte, 10000)}}}
	if err := spaceos.Client(cameraAPID).Call(ctx, &big, &rep); !errors.Is(err, ipc.AccessViolation) {
		t.Fatalf("big spaceos request error = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if captures != 1 {
		t.Fatalf("camera saw %d captures, want 1", captures)
	}
	if st := ce.srv.Stats(); st.Denied != 2 {
		t.Fatalf("denied = %d, want 2", st.Denied)
	}
	if st := ce.camN.Stats().Reassembly; st.Partial != 0 || st.Buffered != 0 {
		t.Fatalf("restricted request left reassembly state: %+v", st)
	}
}

// TestNotPermitted: the switch's policy forbids the caller: the ERROR frame
// surfaces as AccessViolation.
func TestNotPermitted(t *testing.T) {
	pol := policy.Default()
	pol.Tenants = append(pol.Tenants, policy.Tenant{Name: "outsider", Owns: []policy.Range{{First: 0x300, Last: 0x30F}}, CanSendTo: []string{"processor"}})
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	e := startSwitch(t, pol)
	var srv *Server
	e.node("camera", func(n *Node) {
		srv = serveCamera(t, n, cameraipc.NewCameraDispatcher(&camsim.Camera{}))
	})
	run(t, srv, nil)
	out := e.node("outsider", nil)
	_, err := cameraipc.NewCameraClient(out.Client(cameraAPID)).Status(ctxT(t))
	if !errors.Is(err, ipc.AccessViolation) {
		t.Fatalf("outsider Status error = %v, want AccessViolation", err)
	}
	if st := out.Stats(); st.ErrorsIn != 1 {
		t.Fatalf("ERROR frames seen: %d", st.ErrorsIn)
	}
}

// TestConcurrent: many goroutines call through one client at once, small
// calls and 64 KiB leases mixed.
func TestConcurrent(t *testing.T) {
	ce := startCamera(t)
	ctx := ctxT(t)
	id, err := ce.client.Capture(ctx, 777)
	if err != nil {
		t.Fatal(err)
	}
	const workers, calls = 8, 40
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			buf := make([]byte, 65536)
			for i := range calls {
				if w%2 == 0 || i%8 != 0 {
					st, err := ce.client.Status(ctx)
					if err != nil || st.Frames < 1 {
						errs <- fmt.Errorf("worker %d call %d: Status %+v, %v", w, i, st, err)
						return
					}
					continue
				}
				off := uint32(i * 100)
				n, err := ce.client.ReadImage(ctx, id, off, buf)
				if err != nil || n != 65536 {
					errs <- fmt.Errorf("worker %d: ReadImage = %d, %v", w, n, err)
					return
				}
				for j := 0; j < 65536; j += 997 {
					if buf[j] != camsim.Pixel(id, 777, int(off)+j) {
						errs <- fmt.Errorf("worker %d: pixel %d differs", w, int(off)+j)
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if st := ce.proc.Stats(); st.Calls != workers*calls+1 || st.Replies != st.Calls || st.Stray != 0 {
		t.Fatalf("client stats %+v", st)
	}
}

// TestDeadline: a call whose server holds it past the context's deadline
// returns context.DeadlineExceeded; the late reply is counted as stray.
func TestDeadline(t *testing.T) {
	ce := startCamera(t)
	entered, release := make(chan struct{}), make(chan struct{})
	ce.cam.Hook = func(ctx context.Context, op string) {
		if op == "status" {
			entered <- struct{}{}
			<-release
		}
	}
	// The server holds the call until release, so the deadline passes
	// first whatever the timing.
	ctx, cancel := context.WithTimeout(ctxT(t), 20*time.Millisecond)
	defer cancel()
	res := make(chan error, 1)
	go func() {
		_, err := ce.client.Status(ctx)
		res <- err
	}()
	<-entered
	if err := <-res; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Status error = %v, want context.DeadlineExceeded", err)
	}
	ce.cam.Hook = nil
	close(release)
	// The late reply arrives and is dropped; a new call still works, and
	// its reply is not confused with the late one.
	if _, err := ce.client.Capture(ctxT(t), 10); err != nil {
		t.Fatal(err)
	}
	if st := ce.proc.Stats(); st.Stray != 1 {
		t.Fatalf("stray = %d, want 1", st.Stray)
	}
	// An expired context never sends.
	calls := ce.proc.Stats().Calls
	dead, c2 := context.WithCancel(context.Background())
	c2()
	if _, err := ce.client.Status(dead); !errors.Is(err, context.Canceled) {
		t.Fatalf("Status(dead ctx) = %v", err)
	}
	if ce.proc.Stats().Calls != calls {
		t.Fatal("a call with a dead context was sent")
	}
}

var _ = frame.TC

// TestHostBusy: the camera's guest stops reading; once its socket and its
// queue in the switch are full, the switch holds the processor's request
// frames for the camera's hold time, then refuses them with Host_busy, and
// the calls they belong to fail with a *SwitchError instead of waiting. The
// processor's node keeps reading its ERRORs meanwhile (its reader never
// blocks in a write: the outbox), so the switch never stops reading it.
func TestHostBusy(t *testing.T) {
	e := startSwitchCfg(t, apidswitch.Config{QueueLen: 8})
	stalled := e.raw("camera") // connected, never reads
	_ = stalled
	proc := e.node("processor", nil)
	cl := proc.Client(cameraAPID)
	ctx, cancel := context.WithCancel(ctxT(t))
	const calls = 24 // 24 x 281 frames: far more than a socket buffer holds
	errs := make(chan error, calls)
	for range calls {
		go func() {
			var rep ipc.Reply
			errs <- cl.Call(ctx, &ipc.Request{Op: cameraipc.CameraOpUploadCalibration, ReplyCap: 4,
				Leases: []ipc.Lease{{Read: true, Data: make([]byte, 65536)}}}, &rep)
		}()
	}
	err := <-errs
	var se *SwitchError
	if !errors.As(err, &se) || !errors.Is(err, frame.HostBusy) {
		t.Fatalf("first call to fail: %v, want a *SwitchError with Host_busy", err)
	}
	cancel() // the calls the stalled guest swallowed wait for their context
	for range calls - 1 {
		if err := <-errs; err == nil {
			t.Fatal("a call to a stalled guest succeeded")
		}
	}
	if st := proc.Stats(); st.ErrorsIn == 0 {
		t.Fatalf("stats %+v", st)
	}
}
