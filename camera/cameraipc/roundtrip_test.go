package cameraipc

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"spacenet/ipc"
)

// camera is a small in-memory camera: frames are byte patterns.
type camera struct {
	mu     sync.Mutex
	frames [][]byte
	mode   CameraMode
	cal    []byte
	reads  int // read_image calls served
}

func (c *camera) Capture(ctx context.Context, caller ipc.Caller, exposureUs uint32) (uint32, error) {
	if exposureUs == 0 || exposureUs > 1_000_000 {
		return 0, CameraErrorBadExposure
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f := make([]byte, 100_000)
	for i := range f {
		f[i] = byte(i*7) ^ byte(exposureUs)
	}
	c.frames = append(c.frames, f)
	return uint32(len(c.frames)), nil
}

func (c *camera) ReadImage(ctx context.Context, caller ipc.Caller, frameID, offset uint32, sink []byte) (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	if frameID == 0 || int(frameID) > len(c.frames) {
		return 0, CameraErrorNoSuchFrame
	}
	f := c.frames[frameID-1]
	if int(offset) > len(f) {
		return 0, CameraErrorBadOffset
	}
	return uint32(copy(sink, f[offset:])), nil
}

func (c *camera) Status(ctx context.Context, caller ipc.Caller) (CameraStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CameraStatus{Mode: c.mode, Frames: uint32(len(c.frames)), TemperatureMc: -12500, Busy: true}, nil
}

func (c *camera) SetMode(ctx context.Context, caller ipc.Caller, mode CameraMode) error {
	c.mu.Lock()
	c.mode = mode
	c.mu.Unlock()
	return nil
}

func (c *camera) Configure(ctx context.Context, caller ipc.Caller, config CaptureConfig) (CameraMode, error) {
	if config.Gain.Some && config.Gain.V > 64 {
		return 0, ConfigError{Variant: ConfigErrorGainOutOfRange, GainOutOfRange: config.Gain.V}
	}
	if config.Binning != 1 && config.Binning != 2 {
		return 0, ConfigError{Variant: ConfigErrorUnsupportedBinning, UnsupportedBinning: config.Binning}
	}
	return CameraModeScience, nil
}

func (c *camera) UploadCalibration(ctx context.Context, caller ipc.Caller, table []byte) (uint32, error) {
	c.mu.Lock()
	c.cal = append([]byte(nil), table...)
	c.mu.Unlock()
	var sum uint32
	for _, b := range table {
		sum = sum*31 + uint32(b)
	}
	return sum, nil
}

func (c *camera) Histogram(ctx context.Context, caller ipc.Caller, bins []uint32) error {
	for i := range bins {
		bins[i] = uint32(i) * 1000
	}
	return nil
}

func (c *camera) Reset(ctx context.Context, caller ipc.Caller) error { return nil }

func newPair(t testing.TB, opts ...ipc.DispatchOption) (*CameraClient, *camera, *ipc.Pipe) {
	t.Helper()
	cam := &camera{}
	pipe := ipc.NewPipe(NewCameraDispatcher(cam, opts...), ipc.Caller{Tenant: "science", APID: 0x101})
	return NewCameraClient(pipe), cam, pipe
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	client, cam, _ := newPair(t)

	id, err := client.Capture(ctx, 500)
	if err != nil || id != 1 {
		t.Fatalf("Capture = %d, %v", id, err)
	}
	// Read the whole frame through a write lease of exactly max_len.
	got := make([]byte, 0, len(cam.frames[0]))
	buf := make([]byte, 65536)
	for off := 0; off < len(cam.frames[0]); {
		n, err := client.ReadImage(ctx, id, uint32(off), buf)
		if err != nil {
			t.Fatalf("ReadImage at %d: %v", off, err)
		}
		got = append(got, buf[:n]...)
		off += int(n)
	}
	if !bytes.Equal(got, cam.frames[0]) {
		t.Fatal("image read back differs")
	}

	st, err := client.Status(ctx)
	if err != nil || st != (CameraStatus{Mode: CameraModeOff, Frames: 1, TemperatureMc: -12500, Busy: true}) {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if err := client.SetMode(ctx, CameraModePreview); err != nil || cam.mode != CameraModePreview {
		t.Fatalf("SetMode: %v (mode %d)", err, cam.mode)
	}
	sum, err := client.UploadCalibration(ctx, []byte{1, 2, 3})
	if err != nil || sum != (1*31+2)*31+3 || !bytes.Equal(cam.cal, []byte{1, 2, 3}) {
		t.Fatalf("UploadCalibration = %d, %v", sum, err)
	}
	bins := make([]uint32, 256)
	if err := client.Histogram(ctx, bins); err != nil || bins[0] != 0 || bins[255] != 255000 {
		t.Fatalf("Histogram: %v %d", err, bins[255])
	}
	if err := client.Reset(ctx); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	mode, err := client.Configure(ctx, CaptureConfig{Gain: ipc.Some[uint16](8), Binning: 2, Window: ipc.Some(ipc.Tuple2[uint16, uint16]{V0: 640, V1: 480})})
	if err != nil || mode != CameraModeScience {
		t.Fatalf("Configure = %v, %v", mode, err)
	}
}

func TestCLikeError(t *testing.T) {
	ctx := context.Background()
	client, _, _ := newPair(t)
	_, err := client.Capture(ctx, 0)
	var ce CameraError
	if !errors.As(err, &ce) || ce != CameraErrorBadExposure || err.Error() != "CameraError::BadExposure" {
		t.Fatalf("Capture(0) = %v", err)
	}
	_, err = client.ReadImage(ctx, 9, 0, make([]byte, 16))
	if !errors.Is(err, CameraErrorNoSuchFrame) {
		t.Fatalf("ReadImage(9) = %v", err)
	}
}

func TestComplexError(t *testing.T) {
	ctx := context.Background()
	client, _, _ := newPair(t)
	_, err := client.Configure(ctx, CaptureConfig{Gain: ipc.Some[uint16](100), Binning: 1})
	var ce ConfigError
	if !errors.As(err, &ce) || ce != (ConfigError{Variant: ConfigErrorGainOutOfRange, GainOutOfRange: 100}) {
		t.Fatalf("Configure(gain 100) = %#v", err)
	}
	_, err = client.Configure(ctx, CaptureConfig{Binning: 3})
	if !errors.As(err, &ce) || ce.Variant != ConfigErrorUnsupportedBinning || ce.UnsupportedBinning != 3 {
		t.Fatalf("Configure(binning 3) = %#v", err)
	}
	if err.Error() != "ConfigError::UnsupportedBinning" {
		t.Fatalf("message %q", err.Error())
	}
}

func TestIdempotentRetry(t *testing.T) {
	ctx := context.Background()
	client, cam, pipe := newPair(t)
	id, _ := client.Capture(ctx, 100)

	// read_image is idempotent: one server restart is retried transparently.
	pipe.InjectServerDeath(1)
	buf := make([]byte, 10)
	n, err := client.ReadImage(ctx, id, 0, buf)
	if err != nil || n != 10 || !bytes.Equal(buf, cam.frames[0][:10]) {
		t.Fatalf("ReadImage after one death = %d, %v", n, err)
	}
	if calls, served := pipe.Stats(); calls != 3 || served != 2 {
		t.Fatalf("stats calls %d served %d, want 3 and 2", calls, served)
	}
	// Retries are bounded: MaxRetries+1 deaths in a row reach the caller.
	pipe.InjectServerDeath(ipc.MaxRetries + 1)
	if _, err := client.ReadImage(ctx, id, 0, buf); !errors.Is(err, ipc.ServerDeath) {
		t.Fatalf("ReadImage after %d deaths = %v", ipc.MaxRetries+1, err)
	}
	pipe.InjectServerDeath(0)

	// capture is not idempotent: the death is reported, not retried.
	before, _ := pipe.Stats()
	pipe.InjectServerDeath(1)
	if _, err := client.Capture(ctx, 100); !errors.Is(err, ipc.ServerDeath) {
		t.Fatalf("Capture after death = %v", err)
	}
	if after, _ := pipe.Stats(); after != before+1 {
		t.Fatalf("non-idempotent op was retried: %d calls", after-before)
	}
	if len(cam.frames) != 1 {
		t.Fatalf("%d frames, want 1", len(cam.frames))
	}
}

func TestMaxLenInclusive(t *testing.T) {
	ctx := context.Background()
	client, cam, pipe := newPair(t)
	client.Capture(ctx, 1)
	// Equal to max_len: fine.
	if _, err := client.ReadImage(ctx, 1, 0, make([]byte, 65536)); err != nil {
		t.Fatalf("65536 bytes: %v", err)
	}
	calls, _ := pipe.Stats()
	// One more: refused client side, nothing sent.
	_, err := client.ReadImage(ctx, 1, 0, make([]byte, 65537))
	var lt *ipc.LeaseTooLongError
	if !errors.As(err, &lt) || lt.Len != 65537 || lt.Max != 65536 || lt.Lease != "sink" || !errors.Is(err, ipc.BadLease) {
		t.Fatalf("65537 bytes: %v", err)
	}
	if c, _ := pipe.Stats(); c != calls {
		t.Fatal("an over-long lease was sent")
	}
	// A client that skips the check is refused by the server.
	reads := cam.reads
	req := ipc.Request{Op: CameraOpReadImage, Args: make([]byte, 8), ReplyCap: 4,
		Leases: []ipc.Lease{{Write: true, Data: make([]byte, 65537)}}}
	var rep ipc.Reply
	if err := pipe.Call(ctx, &req, &rep); err != ipc.BadLease {
		t.Fatalf("server got 65537: %v", err)
	}
	if cam.reads != reads {
		t.Fatal("server method ran for a bad lease")
	}
}

func TestDispatcherFaults(t *testing.T) {
	ctx := context.Background()
	cam := &camera{}
	d := NewCameraDispatcher(cam, ipc.Restrict(CameraOpConfigure, "ops"))
	ops := ipc.Caller{Tenant: "ops"}
	other := ipc.Caller{Tenant: "science"}
	hubpackCfg := []byte{0, 1, 0, 0} // gain None, binning 1, flip false, window None
	tests := []struct {
		name   string
		caller ipc.Caller
		req    ipc.Request
		want   error
	}{
		{"op 0", ops, ipc.Request{Op: 0}, ipc.UnknownOperation},
		{"op 9", ops, ipc.Request{Op: 9}, ipc.UnknownOperation},
		{"restricted, other tenant", other, ipc.Request{Op: CameraOpConfigure, Args: hubpackCfg, ReplyCap: 3}, ipc.AccessViolation},
		// Access is checked before anything is decoded: garbage args still get AccessViolation.
		{"restricted, garbage", other, ipc.Request{Op: CameraOpConfigure, Args: []byte{9, 9, 9}}, ipc.AccessViolation},
		{"restricted, allowed", ops, ipc.Request{Op: CameraOpConfigure, Args: hubpackCfg, ReplyCap: 3}, nil},
		// As upstream: a Zerocopy message of the wrong length does not convert.
		{"zerocopy short", other, ipc.Request{Op: CameraOpCapture, Args: []byte{1, 0, 0}, ReplyCap: 4}, ipc.BadMessageContents},
		{"zerocopy long", other, ipc.Request{Op: CameraOpCapture, Args: []byte{1, 0, 0, 0, 0}, ReplyCap: 4}, ipc.BadMessageContents},
		{"above incoming size", ops, ipc.Request{Op: CameraOpConfigure, Args: make([]byte, CameraIncomingSize+1)}, ipc.BadMessageSize},
		{"FromPrimitive out of range", other, ipc.Request{Op: CameraOpSetMode, Args: []byte{3}}, ipc.BadMessageContents},
		{"hubpack bad bool", ops, ipc.Request{Op: CameraOpConfigure, Args: []byte{0, 1, 2, 0}, ReplyCap: 3}, ipc.BadMessageContents},
		{"hubpack bad option tag", ops, ipc.Request{Op: CameraOpConfigure, Args: []byte{2, 1, 0, 0}, ReplyCap: 3}, ipc.BadMessageContents},
		{"hubpack short", ops, ipc.Request{Op: CameraOpConfigure, Args: []byte{1, 5}, ReplyCap: 3}, ipc.BadMessageContents},
		{"missing lease", other, ipc.Request{Op: CameraOpUploadCalibration, ReplyCap: 4}, ipc.BadLease},
		{"lease lacks read", other, ipc.Request{Op: CameraOpUploadCalibration, ReplyCap: 4, Leases: []ipc.Lease{{Write: true, Data: []byte{1}}}}, ipc.BadLease},
		{"typed lease partial element", other, ipc.Request{Op: CameraOpHistogram, Leases: []ipc.Lease{{Write: true, Data: make([]byte, 6)}}}, ipc.BadLease},
		{"reply buffer too small", other, ipc.Request{Op: CameraOpStatus, ReplyCap: 9}, ipc.ReplyBufferTooSmall},
	}
	for _, tt := range tests {
		var rep ipc.Reply
		if err := d.Handle(ctx, tt.caller, &tt.req, &rep); err != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

// recorder is a Transport that records the request and answers with a
// canned reply: the wire tests below check exact bytes both ways.
type recorder struct {
	req   ipc.Request
	reply ipc.Reply
}

func (r *recorder) Call(ctx context.Context, req *ipc.Request, reply *ipc.Reply) error {
	r.req = *req
	r.req.Args = append([]byte(nil), req.Args...)
	r.req.Leases = append([]ipc.Lease(nil), req.Leases...) // the client reuses req after Call
	reply.RC = r.reply.RC
	reply.Body = append(reply.Body[:0], r.reply.Body...)
	reply.Written = r.reply.Written
	return nil
}

func TestCameraWire(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{}
	client := NewCameraClient(rec)

	// Zerocopy: u32 LE args, u32 LE reply.
	rec.reply = ipc.Reply{Body: []byte{0x2a, 0, 0, 0}}
	id, err := client.Capture(ctx, 0x01020304)
	if err != nil || id != 42 || !bytes.Equal(rec.req.Args, []byte{4, 3, 2, 1}) || rec.req.Op != 1 || rec.req.ReplyCap != 4 {
		t.Fatalf("Capture: %d %v args % x", id, err, rec.req.Args)
	}
	// A CLike error is the RC, body empty.
	rec.reply = ipc.Reply{RC: 2}
	if _, err := client.Capture(ctx, 1); err != CameraErrorBusy {
		t.Fatalf("RC 2 = %v", err)
	}
	// A Zerocopy reply of the wrong length is malformed.
	rec.reply = ipc.Reply{Body: []byte{1, 0, 0}}
	if _, err := client.Capture(ctx, 1); !errors.Is(err, ipc.ErrBadReply) {
		t.Fatalf("short reply = %v", err)
	}

	// Zerocopy struct: mode u8, frames u32, temperature i32, busy bool (non-zero is true).
	rec.reply = ipc.Reply{Body: []byte{2, 7, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0x05}}
	st, err := client.Status(ctx)
	if err != nil || st != (CameraStatus{Mode: CameraModeScience, Frames: 7, TemperatureMc: -2, Busy: true}) {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	// An enum out of range in a Zerocopy reply is malformed.
	rec.reply = ipc.Reply{Body: []byte{3, 7, 0, 0, 0, 0, 0, 0, 0, 0}}
	if _, err := client.Status(ctx); !errors.Is(err, ipc.ErrBadReply) {
		t.Fatalf("mode 3 = %v", err)
	}

	// FromPrimitive("u8"): the enum's value as one byte.
	rec.reply = ipc.Reply{}
	if err := client.SetMode(ctx, CameraModeScience); err != nil || !bytes.Equal(rec.req.Args, []byte{2}) {
		t.Fatalf("SetMode args % x, %v", rec.req.Args, err)
	}

	// Hubpack: Option<u16> Some = 01 + LE; u8; bool; Option<(u16,u16)>.
	rec.reply = ipc.Reply{Body: []byte{1}} // CameraMode::Preview is variant index 1
	mode, err := client.Configure(ctx, CaptureConfig{Gain: ipc.Some[uint16](0x0102), Binning: 2, Flip: true,
		Window: ipc.Some(ipc.Tuple2[uint16, uint16]{V0: 0x0280, V1: 0x01e0})})
	want := []byte{0x01, 0x02, 0x01, 0x02, 0x01, 0x01, 0x80, 0x02, 0xe0, 0x01}
	if err != nil || mode != CameraModePreview || !bytes.Equal(rec.req.Args, want) || len(want) != CameraConfigureArgsSize {
		t.Fatalf("Configure: %v %v args % x", mode, err, rec.req.Args)
	}
	// Hubpack None is a single 00; the message is shorter than the maximum.
	if _, err := client.Configure(ctx, CaptureConfig{Binning: 1}); err != nil || !bytes.Equal(rec.req.Args, []byte{0, 1, 0, 0}) {
		t.Fatalf("Configure(None) args % x, %v", rec.req.Args, err)
	}
	// Complex error: RC 1, body = Hubpack enum: variant index u8 then payload.
	rec.reply = ipc.Reply{RC: 1, Body: []byte{0x00, 0x34, 0x12}}
	_, err = client.Configure(ctx, CaptureConfig{})
	if err != (ConfigError{Variant: ConfigErrorGainOutOfRange, GainOutOfRange: 0x1234}) {
		t.Fatalf("complex error = %#v", err)
	}
	rec.reply = ipc.Reply{RC: 1, Body: []byte{0x03}} // no variant 3
	if _, err = client.Configure(ctx, CaptureConfig{}); !errors.Is(err, ipc.ErrBadReply) {
		t.Fatalf("bad variant = %v", err)
	}
	rec.reply = ipc.Reply{RC: 2}
	if _, err = client.Configure(ctx, CaptureConfig{}); !errors.Is(err, ipc.ErrBadReply) {
		t.Fatalf("RC 2 for a Complex op = %v", err)
	}

	// Typed write lease [u32]: the server's bytes, LE, become the caller's slice.
	rec.reply = ipc.Reply{Written: [][]byte{{1, 0, 0, 0, 0, 1, 0, 0}}}
	bins := make([]uint32, 2)
	if err := client.Histogram(ctx, bins); err != nil || bins[0] != 1 || bins[1] != 256 {
		t.Fatalf("Histogram %v %v", bins, err)
	}
	if l := rec.req.Leases; len(l) != 1 || !l[0].Write || l[0].Read || len(l[0].Data) != 8 {
		t.Fatalf("Histogram lease %+v", rec.req.Leases)
	}
}

func TestSizes(t *testing.T) {
	// INCOMING_SIZE is the maximum of the ops' argument sizes, not the sum.
	sizes := []int{CameraCaptureArgsSize, CameraReadImageArgsSize, CameraStatusArgsSize, CameraSetModeArgsSize,
		CameraConfigureArgsSize, CameraUploadCalibrationArgsSize, CameraHistogramArgsSize, CameraResetArgsSize}
	m, sum := 0, 0
	for _, s := range sizes {
		m, sum = max(m, s), sum+s
	}
	if CameraIncomingSize != m {
		t.Fatalf("incoming %d, max %d", CameraIncomingSize, m)
	}
	if sum != 23 || CameraIncomingSize != 10 {
		t.Fatalf("sum %d, incoming %d; want 23 and 10", sum, CameraIncomingSize)
	}
	// Hubpack max: Option<u16> 3 + u8 1 + bool 1 + Option<(u16,u16)> 5.
	if CameraConfigureArgsSize != 10 {
		t.Fatalf("configure args %d", CameraConfigureArgsSize)
	}
	// Reply: max(CameraMode 1, ConfigError 1 + max(u16, u8)) = 3.
	if CameraConfigureReplySize != 3 {
		t.Fatalf("configure reply %d", CameraConfigureReplySize)
	}
}

// BenchmarkStatusRoundTrip: a Zerocopy call with a 10-byte struct reply
// through the generated client, the in-memory pipe and the dispatcher.
func BenchmarkStatusRoundTrip(b *testing.B) {
	client, _, _ := newPair(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := client.Status(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
