package cameraipc

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"spacenet/ipc"
	"spacenet/ipc/switched"
)

// A switched server takes a CameraPipelined as its pipelined handler
// (ServerConfig{Pipelined: p}) and holds each call as a *switched.Call.
var (
	_ ipc.PipelinedHandler = (*CameraPipelined)(nil)
	_ CameraHeld           = (*switched.Call)(nil)
)

// errAnswered is what heldCall.Finish returns for a second answer, as
// switched.Call does.
var errAnswered = errors.New("call already answered")

// answer is what a pipelined server answered a held call with.
type answer struct {
	rep *ipc.Reply
	err error
}

// heldCall is a CameraHeld that hands its one answer to the goroutine
// waiting in pipelinedHandler.Handle.
type heldCall struct {
	once sync.Once
	done chan answer // buffered 1
}

func (h *heldCall) Finish(rep *ipc.Reply, err error) error {
	answered := true
	h.once.Do(func() {
		answered = false
		h.done <- answer{rep, err}
	})
	if answered {
		return errAnswered
	}
	return nil
}

// pipelinedHandler runs a CameraPipelined behind ipc.Pipe: each call is
// held open (its caller waits) until the pipelined server answers it,
// from whatever goroutine, in whatever order, as switched.Server's
// Pipelined mode does over the switch.
type pipelinedHandler struct{ p *CameraPipelined }

func (h pipelinedHandler) Handle(ctx context.Context, caller ipc.Caller, req *ipc.Request, rep *ipc.Reply) error {
	held := &heldCall{done: make(chan answer, 1)}
	h.p.Serve(ctx, caller, req, held)
	select {
	case a := <-held.done:
		if a.err != nil {
			return a.err
		}
		rep.RC, rep.Body, rep.Written = a.rep.RC, append(rep.Body[:0], a.rep.Body...), a.rep.Written
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pipeCam is a pipelined camera: captures and histograms are held and
// handed to the test; the other ops answer at once.
type pipeCam struct {
	captures   chan capture
	histograms chan histogram
	served     chan string // every op that reached the server
}

type capture struct {
	call       *CameraCaptureCall
	exposureUs uint32
}

type histogram struct {
	call *CameraHistogramCall
	bins []uint32
}

func (c *pipeCam) Capture(ctx context.Context, caller ipc.Caller, call *CameraCaptureCall, exposureUs uint32) {
	c.served <- "capture"
	c.captures <- capture{call, exposureUs}
}

func (c *pipeCam) ReadImage(ctx context.Context, caller ipc.Caller, call *CameraReadImageCall, frameID, offset uint32, sink []byte) {
	c.served <- "read_image"
	n := copy(sink, "frame")
	call.Reply(uint32(n))
}

func (c *pipeCam) Status(ctx context.Context, caller ipc.Caller, call *CameraStatusCall) {
	c.served <- "status"
	call.Reply(CameraStatus{Mode: CameraModeScience, Frames: 3, TemperatureMc: -1500, Busy: true})
}

func (c *pipeCam) SetMode(ctx context.Context, caller ipc.Caller, call *CameraSetModeCall, mode CameraMode) {
	c.served <- "set_mode"
	call.Fail(CameraErrorBusy)
}

func (c *pipeCam) Configure(ctx context.Context, caller ipc.Caller, call *CameraConfigureCall, config CaptureConfig) {
	c.served <- "configure"
	call.Fail(ConfigError{Variant: ConfigErrorGainOutOfRange, GainOutOfRange: 900})
}

func (c *pipeCam) UploadCalibration(ctx context.Context, caller ipc.Caller, call *CameraUploadCalibrationCall, table []byte) {
	c.served <- "upload_calibration"
	call.Reply(uint32(len(table)))
}

func (c *pipeCam) Histogram(ctx context.Context, caller ipc.Caller, call *CameraHistogramCall, bins []uint32) {
	c.served <- "histogram"
	c.histograms <- histogram{call, bins}
}

func (c *pipeCam) Reset(ctx context.Context, caller ipc.Caller, call *CameraResetCall) {
	c.served <- "reset"
	call.Fail(ipc.BadLease)
}

// captureOutOfOrder starts captures with exposures 1, 2 and 3, waits
// until cam holds all three (then calls held, if not nil), answers 3 (id
// 30), then 2 (CameraErrorBusy), then 1 (id 10), and checks that each
// caller gets its own answer. It returns the calls by exposure.
func captureOutOfOrder(t *testing.T, client *CameraClient, cam *pipeCam, held func()) []capture {
	t.Helper()
	type result struct {
		exposure, id uint32
		err          error
	}
	results := make(chan result, 3)
	for _, e := range []uint32{1, 2, 3} {
		go func() {
			id, err := client.Capture(context.Background(), e)
			results <- result{e, id, err}
		}()
	}
	var open []capture
	for range 3 {
		open = append(open, <-cam.captures) // three calls held at once
	}
	if held != nil {
		held()
	}
	slices.SortFunc(open, func(a, b capture) int { return int(a.exposureUs) - int(b.exposureUs) })
	if err := open[2].call.Reply(30); err != nil {
		t.Fatal(err)
	}
	if r := <-results; r.exposure != 3 || r.id != 30 || r.err != nil {
		t.Fatalf("first answered: %+v, want exposure 3 id 30", r)
	}
	open[1].call.Fail(CameraErrorBusy)
	if r := <-results; r.exposure != 2 || !errors.Is(r.err, CameraErrorBusy) {
		t.Fatalf("second answered: %+v, want exposure 2 CameraErrorBusy", r)
	}
	open[0].call.Reply(10)
	if r := <-results; r.exposure != 1 || r.id != 10 || r.err != nil {
		t.Fatalf("third answered: %+v, want exposure 1 id 10", r)
	}
	return open
}

// TestPipelinedCamera: the generated pipelined side holds several calls
// open and answers them out of order with typed replies and errors; a
// typed write lease filled after the method returned reaches the caller;
// a second answer is refused; a request the checks refuse never reaches
// the server.
func TestPipelinedCamera(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	cam := &pipeCam{captures: make(chan capture, 4), histograms: make(chan histogram, 1), served: make(chan string, 16)}
	pipe := ipc.NewPipe(pipelinedHandler{NewCameraPipelined(cam)}, ipc.Caller{Tenant: "processor"})
	client := NewCameraClient(pipe)

	open := captureOutOfOrder(t, client, cam, nil)
	if err := open[2].call.Reply(31); err != errAnswered {
		t.Fatalf("second answer: %v, want errAnswered", err)
	}

	// A typed write lease ([u32]) filled after the method returned.
	bins := make([]uint32, 4)
	done := make(chan error, 1)
	go func() { done <- client.Histogram(ctx, bins) }()
	h := <-cam.histograms
	copy(h.bins, []uint32{1, 2, 0x01020304, 4})
	h.call.Reply()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(bins, []uint32{1, 2, 0x01020304, 4}) {
		t.Fatalf("bins %v", bins)
	}

	// Answered at once: a byte write lease, a struct reply, a Complex error, a fault.
	sink := make([]byte, 8)
	if n, err := client.ReadImage(ctx, 1, 0, sink); err != nil || n != 5 || string(sink[:5]) != "frame" {
		t.Fatalf("ReadImage = %d, %v, %q", n, err, sink)
	}
	if st, err := client.Status(ctx); err != nil || st != (CameraStatus{Mode: CameraModeScience, Frames: 3, TemperatureMc: -1500, Busy: true}) {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	var ce ConfigError
	if _, err := client.Configure(ctx, CaptureConfig{Binning: 1}); !errors.As(err, &ce) || ce.Variant != ConfigErrorGainOutOfRange || ce.GainOutOfRange != 900 {
		t.Fatalf("Configure = %v", err)
	}
	if err := client.Reset(ctx); !errors.Is(err, ipc.BadLease) {
		t.Fatalf("Reset = %v, want BadLease", err)
	}

	// Refused by the generated checks before the server: no method runs.
	for _, tt := range []struct {
		name string
		req  ipc.Request
		want error
	}{
		{"unknown op", ipc.Request{Op: 9}, ipc.UnknownOperation},
		{"zerocopy short", ipc.Request{Op: CameraOpCapture, Args: []byte{1, 0, 0}, ReplyCap: 4}, ipc.BadMessageContents},
		{"FromPrimitive out of range", ipc.Request{Op: CameraOpSetMode, Args: []byte{3}}, ipc.BadMessageContents},
		{"missing lease", ipc.Request{Op: CameraOpUploadCalibration, ReplyCap: 4}, ipc.BadLease},
	} {
		var rep ipc.Reply
		if err := pipe.Call(ctx, &tt.req, &rep); err != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	close(cam.served)
	var served []string
	for op := range cam.served {
		served = append(served, op)
	}
	want := []string{"capture", "capture", "capture", "histogram", "read_image", "status", "configure", "reset"}
	if !slices.Equal(served, want) {
		t.Errorf("ops served %v, want %v", served, want)
	}
}
