package switched

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
	"spacenet/apid/policy"
	"spacenet/apid/sysmsg"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/ipc"
	"spacenet/ipc/ipcframe"
)

// groundLink is Config.DownlinkFrames for these tests: what the switch sends
// to the ground, one frame at a time.
type groundLink chan frame.Frame

func (g groundLink) SendFrame(f *frame.Frame) error {
	select {
	case g <- *f:
		return nil
	default:
		return errors.New("test ground link full")
	}
}

// injectCall sends a request from the ground, as the downlink does, and
// returns what Inject said of each of its frames' first.
func injectCall(t *testing.T, sw *apidswitch.Switch, src frame.APID, id uint32, req *ipc.Request) error {
	t.Helper()
	fs, err := ipcframe.Append(nil, ipcframe.Request, src, cameraAPID, id, request(t, req))
	if err != nil {
		t.Fatal(err)
	}
	for i := range fs {
		if err := sw.Inject(&fs[i]); err != nil {
			return err
		}
	}
	return nil
}

// TestGroundRestrictedOp (issue 14 item 1): capture is restricted to the
// processor. The ground's call claiming processor's APID 0x020 is refused
// by the switch (Apid_not_allocated) and never reaches the camera; from the
// ground's own APID it reaches the camera's runtime, which refuses the
// restricted op (AccessViolation, sent down to the ground) as for any
// caller not allowed, while an unrestricted op works.
func TestGroundRestrictedOp(t *testing.T) {
	down := make(groundLink, 16)
	e := startSwitchCfg(t, apidswitch.Config{DownlinkFrames: down})
	cam := &camsim.Camera{}
	var mu sync.Mutex
	ops := map[string]int{}
	cam.Hook = func(ctx context.Context, op string) {
		mu.Lock()
		ops[op]++
		mu.Unlock()
	}
	var srv *Server
	e.node("camera", func(n *Node) {
		srv = serveCamera(t, n, cameraipc.NewCameraDispatcher(cam), func(c *ServerConfig) {
			c.Restrict = []ipc.DispatchOption{ipc.Restrict(cameraipc.CameraOpCapture, "processor")}
		})
	})
	run(t, srv, nil)
	capture := &ipc.Request{Op: cameraipc.CameraOpCapture, Args: []byte{100, 0, 0, 0}, ReplyCap: cameraipc.CameraCaptureReplySize}

	if err := injectCall(t, e.sw, 0x020, 1, capture); !errors.Is(err, frame.APIDNotAllocated) {
		t.Fatalf("ground's capture claiming 0x020: Inject = %v, want Apid_not_allocated", err)
	}
	if err := injectCall(t, e.sw, policy.DefaultGroundAPID, 2, capture); err != nil {
		t.Fatalf("ground's capture from its own APID: Inject = %v", err)
	}
	reply := func() (ipcframe.Header, ipc.Reply, error) {
		t.Helper()
		select {
		case f := <-down:
			if f.APID() != cameraAPID || f.Dest() != policy.DefaultGroundAPID {
				t.Fatalf("ground got a frame from %v to %v", f.APID(), f.Dest())
			}
			h, why := ipcframe.ParseHeader(f.Type(), f.Payload())
			if why != ipcframe.OK {
				t.Fatalf("ground got a bad reply: %v", why)
			}
			var rep ipc.Reply
			err := ipc.ParseReply(f.Payload()[ipcframe.HeaderSize:], &rep)
			return h, rep, err
		case <-time.After(testTimeout):
			t.Fatal("no reply reached the ground")
		}
		panic("unreachable")
	}
	h, _, err := reply()
	if f, ok := ipc.AsFault(err); !ok || f != ipc.AccessViolation || h.ID != 2 {
		t.Fatalf("reply to call %d: %v, want AccessViolation for call 2", h.ID, err)
	}
	status := &ipc.Request{Op: cameraipc.CameraOpStatus, ReplyCap: cameraipc.CameraStatusReplySize}
	if err := injectCall(t, e.sw, policy.DefaultGroundAPID, 3, status); err != nil {
		t.Fatal(err)
	}
	if h, rep, err := reply(); err != nil || h.ID != 3 || rep.RC != 0 {
		t.Fatalf("status from the ground: call %d, rc %d, %v", h.ID, rep.RC, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if ops["capture"] != 0 || ops["status"] != 1 {
		t.Errorf("camera ran %v, want status once and no capture", ops)
	}
	if st := srv.Stats(); st.Denied != 1 {
		t.Errorf("denied %d, want 1 (the ground's own call)", st.Denied)
	}
	g := e.sw.Ground()
	if g.Dropped[frame.APIDNotAllocated] != 1 || g.DroppedTotal() != 1 || g.Received != 3 {
		t.Errorf("ground counters %+v", g)
	}
}

// TestForgedEventFromGround (issue 14 item 1): a "camera disconnected"
// event forged by the ground (a HEALTH frame from the switch's event APID
// 0x002) is refused by the switch, so a call in flight to the camera is
// not failed with ServerDeath: it completes.
func TestForgedEventFromGround(t *testing.T) {
	e := startSwitch(t, nil)
	cam := &camsim.Camera{}
	entered, release := make(chan struct{}), make(chan struct{})
	cam.Hook = func(ctx context.Context, op string) {
		if op == "capture" {
			close(entered)
			<-release
		}
	}
	var srv *Server
	e.node("camera", func(n *Node) {
		srv = serveCamera(t, n, cameraipc.NewCameraDispatcher(cam))
	})
	run(t, srv, nil)
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before the server stops, even if the test fails
	proc := e.node("processor", nil)
	gen, connected, _ := proc.TenantConnected("camera")
	if !connected {
		t.Fatal("processor does not know the camera is connected")
	}
	done := make(chan error, 1)
	go func() {
		_, err := cameraipc.NewCameraClient(proc.Client(cameraAPID)).Capture(ctxT(t), 10)
		done <- err
	}()
	<-entered // the call is in flight, bound to the camera's generation

	p := make([]byte, 8+len("camera"))
	p[0], p[1] = byte(sysmsg.Disconnected), byte(len("camera"))
	binary.BigEndian.PutUint16(p[2:], uint16(cameraAPID))
	binary.BigEndian.PutUint32(p[4:], gen)
	copy(p[8:], "camera")
	var forged frame.Frame
	if err := frame.Encode(&forged, frame.Health, sysmsg.APIDEvents, proc.APID(), p); err != nil {
		t.Fatal(err)
	}
	if err := e.sw.Inject(&forged); !errors.Is(err, frame.APIDNotAllocated) {
		t.Errorf("forged event: Inject = %v, want Apid_not_allocated", err)
	}
	free()
	if err := <-done; err != nil {
		t.Fatalf("capture = %v, want success: the forged event must not end it", err)
	}
	if st := proc.Stats(); st.Events != 0 {
		t.Errorf("processor saw %d events", st.Events)
	}
}
