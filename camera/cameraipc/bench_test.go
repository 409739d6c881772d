package cameraipc

import (
	"context"
	"encoding/binary"
	"testing"

	"spacenet/ipc"
)

// The dispatcher's decode of fixed-size arguments and encode of the reply
// allocate nothing once the Reply's buffer is warm.
func TestDispatchAllocs(t *testing.T) {
	ctx := context.Background()
	d := NewCameraDispatcher(&camera{})
	caller := ipc.Caller{Tenant: "science"}
	status := ipc.Request{Op: CameraOpStatus, ReplyCap: CameraStatusReplySize}
	setMode := ipc.Request{Op: CameraOpSetMode, Args: []byte{1}}
	var rep ipc.Reply
	allocs := testing.AllocsPerRun(200, func() {
		if err := d.Handle(ctx, caller, &status, &rep); err != nil {
			t.Fatal(err)
		}
		if err := d.Handle(ctx, caller, &setMode, &rep); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per Status+SetMode dispatch, want 0", allocs)
	}
}

// BenchmarkDispatchStatus: the generated dispatcher alone (decode, call,
// encode a 10-byte Zerocopy struct).
func BenchmarkDispatchStatus(b *testing.B) {
	ctx := context.Background()
	d := NewCameraDispatcher(&camera{})
	req := ipc.Request{Op: CameraOpStatus, ReplyCap: CameraStatusReplySize}
	var rep ipc.Reply
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Handle(ctx, ipc.Caller{}, &req, &rep); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineHandStatus is the baseline for BenchmarkDispatchStatus:
// the same reply encoded by hand with encoding/binary, no dispatcher.
func BenchmarkBaselineHandStatus(b *testing.B) {
	ctx := context.Background()
	cam := &camera{}
	var body [10]byte
	b.ReportAllocs()
	for b.Loop() {
		st, _ := cam.Status(ctx, ipc.Caller{})
		body[0] = byte(st.Mode)
		binary.LittleEndian.PutUint32(body[1:], st.Frames)
		binary.LittleEndian.PutUint32(body[5:], uint32(st.TemperatureMc))
		body[9] = 0
		if st.Busy {
			body[9] = 1
		}
	}
}

// BenchmarkConfigureHubpack: a Hubpack round trip (Option, tuple, enum)
// through client, pipe and dispatcher.
func BenchmarkConfigureHubpack(b *testing.B) {
	client, _, _ := newPair(b)
	ctx := context.Background()
	cfg := CaptureConfig{Gain: ipc.Some[uint16](8), Binning: 2, Window: ipc.Some(ipc.Tuple2[uint16, uint16]{V0: 640, V1: 480})}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Configure(ctx, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselinePipeRaw is the baseline for the round trips: the same
// Pipe with a handler that does no decoding or encoding at all.
func BenchmarkBaselinePipeRaw(b *testing.B) {
	h := ipc.HandlerFunc(func(ctx context.Context, c ipc.Caller, req *ipc.Request, rep *ipc.Reply) error {
		rep.Body = append(rep.Body[:0], req.Args...)
		return nil
	})
	p := ipc.NewPipe(h, ipc.Caller{})
	ctx := context.Background()
	req := ipc.Request{Op: 1, Args: make([]byte, 10), ReplyCap: 10}
	var rep ipc.Reply
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Call(ctx, &req, &rep); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadImage64K: an idempotent read of a 64 KiB write lease.
func BenchmarkReadImage64K(b *testing.B) {
	client, cam, _ := newPair(b)
	ctx := context.Background()
	cam.Capture(ctx, ipc.Caller{}, 10)
	buf := make([]byte, 65536)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.ReadImage(ctx, 1, 0, buf); err != nil {
			b.Fatal(err)
		}
	}
}
