package switched

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/policy"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/ipc"
	"spacenet/ipc/ipcframe"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds every wait in these tests so that a bug fails the test
// instead of hanging it; it is a safety net, never a synchronisation.
const testTimeout = 10 * time.Second

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// env is a real switch on a fresh socket directory.
type env struct {
	t   *testing.T
	sw  *apidswitch.Switch
	pol *policy.Policy
}

func startSwitch(t *testing.T, pol *policy.Policy) *env {
	t.Helper()
	return startSwitchCfg(t, apidswitch.Config{Policy: pol})
}

func startSwitchCfg(t *testing.T, cfg apidswitch.Config) *env {
	t.Helper()
	if cfg.Policy == nil {
		cfg.Policy = policy.Default()
	}
	pol := cfg.Policy
	dir, err := os.MkdirTemp("", "ipcsw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg.SocketDir, cfg.Logger = dir+"/s", quiet()
	cfg.OnEvent = func(ev apidswitch.Event) { t.Logf("switch event %+v", ev) }
	sw, err := apidswitch.New(cfg)
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
		t.Fatalf("switch Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("switch Run: %v", err)
		}
	})
	return &env{t: t, sw: sw, pol: pol}
}

// node builds a node for tenant, lets setup register servers, starts it,
// and closes it at cleanup.
func (e *env) node(tenant string, setup func(n *Node), mod ...func(*Config)) *Node {
	e.t.Helper()
	cfg := Config{Socket: e.sw.SocketPath(tenant), Tenant: tenant, Policy: e.pol, Logger: quiet()}
	for _, m := range mod {
		m(&cfg)
	}
	n, err := NewNode(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if setup != nil {
		setup(n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { n.Close() })
	return n
}

// run runs s until the test ends and checks what Run returned.
func run(t *testing.T, s *Server, want error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, want) && err != want {
			t.Errorf("Server.Run = %v, want %v", err, want)
		}
	})
}

// cameraAPID is where the camera tenant serves Camera in these tests.
const cameraAPID frame.APID = 0x010

// serveCamera registers cam on the camera node's APID 0x010.
func serveCamera(t *testing.T, n *Node, h ipc.Handler, opts ...func(*ServerConfig)) *Server {
	t.Helper()
	cfg := ServerConfig{APID: cameraAPID, Handler: h}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := n.Serve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// rawGuest is a tenant speaking frames by hand (a hostile or a test peer).
type rawGuest struct {
	t *testing.T
	g *guest.Conn
}

func (e *env) raw(tenant string) *rawGuest {
	e.t.Helper()
	g, err := guest.Dial(e.sw.SocketPath(tenant))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { g.Close() })
	return &rawGuest{t: e.t, g: g}
}

func (r *rawGuest) send(fs []frame.Frame) {
	r.t.Helper()
	if err := r.g.WriteFrames(fs); err != nil {
		r.t.Fatal(err)
	}
}

// call sends a request message by hand.
func (r *rawGuest) call(src, dest frame.APID, id uint32, msg []byte) {
	r.t.Helper()
	fs, err := ipcframe.Append(nil, ipcframe.Request, src, dest, id, msg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.send(fs)
}

// reply reads frames until an IPC reply (or busy) arrives and returns its
// header and message (one frame: the runtime's answers are small).
func (r *rawGuest) reply() (ipcframe.Header, []byte) {
	r.t.Helper()
	r.g.SetReadDeadline(time.Now().Add(testTimeout))
	for {
		var f frame.Frame
		if err := r.g.ReadFrame(&f); err != nil {
			r.t.Fatalf("reading reply: %v", err)
		}
		if f.Type() != frame.TM || !ipcframe.IsIPC(f.Payload()) {
			continue
		}
		h, why := ipcframe.ParseHeader(f.Type(), f.Payload())
		if why != ipcframe.OK {
			r.t.Fatalf("bad reply header: %v", why)
		}
		return h, append([]byte(nil), f.Payload()[ipcframe.HeaderSize:]...)
	}
}

// errorFrame reads frames until an ERROR frame from the switch arrives.
func (r *rawGuest) errorFrame() frame.ErrorPayload {
	r.t.Helper()
	r.g.SetReadDeadline(time.Now().Add(testTimeout))
	for {
		var f frame.Frame
		if err := r.g.ReadFrame(&f); err != nil {
			r.t.Fatalf("reading ERROR: %v", err)
		}
		if f.Type() == frame.Error {
			ep, err := frame.ParseErrorPayload(f.Payload())
			if err != nil {
				r.t.Fatal(err)
			}
			return ep
		}
	}
}

// fault decodes a reply message that must be a fault.
func (r *rawGuest) fault(msg []byte) ipc.Fault {
	r.t.Helper()
	var rep ipc.Reply
	err := ipc.ParseReply(msg, &rep)
	f, ok := ipc.AsFault(err)
	if !ok {
		r.t.Fatalf("reply is not a fault: %v (rc %d)", err, rep.RC)
	}
	return f
}

func request(t *testing.T, req *ipc.Request) []byte {
	t.Helper()
	b, err := ipc.AppendRequest(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cameraOps are Camera's ops in op-code order (idl/camera.idol).
var cameraOps = []string{"capture", "read_image", "status", "set_mode", "configure", "upload_calibration", "histogram", "reset"}

// cameraEnv is a switch with the camera serving camsim on 0x010 and the
// processor as a client.
type cameraEnv struct {
	*env
	cam    *camsim.Camera
	camN   *Node
	srv    *Server
	proc   *Node
	client *cameraipc.CameraClient
}

// startCamera serves camsim with the runtime restrictions opts (checked by
// the switched runtime on the first frame, not by the dispatcher).
func startCamera(t *testing.T, opts ...ipc.DispatchOption) *cameraEnv {
	return startCameraNode(t, nil, opts...)
}

// startCameraNode is startCamera with mod applied to the camera node's
// Config (nil for none).
func startCameraNode(t *testing.T, mod func(*Config), opts ...ipc.DispatchOption) *cameraEnv {
	ce := &cameraEnv{env: startSwitch(t, nil), cam: &camsim.Camera{}}
	var mods []func(*Config)
	if mod != nil {
		mods = append(mods, mod)
	}
	ce.camN = ce.node("camera", func(n *Node) {
		ce.srv = serveCamera(t, n, cameraipc.NewCameraDispatcher(ce.cam), func(c *ServerConfig) { c.Restrict, c.Ops = opts, cameraOps })
	}, mods...)
	run(t, ce.srv, nil)
	ce.proc = ce.node("processor", nil)
	ce.client = cameraipc.NewCameraClient(ce.proc.Client(cameraAPID))
	return ce
}
