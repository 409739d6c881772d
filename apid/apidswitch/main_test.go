package apidswitch

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/policy"
	"spacenet/apid/sysmsg"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds every blocking read in these tests, so that a bug fails
// the test instead of hanging it. It is a safety net, not a synchronisation.
const testTimeout = 10 * time.Second

// harness runs a switch in a fresh socket directory for one test.
type harness struct {
	t   *testing.T
	sw  *Switch
	dir string

	// The switch's events, in order, none lost: a test that makes many
	// connections (hundreds of sysmsg.Replaced events) must still see the one it
	// waits for. eventKick wakes waitEvent after an append.
	eventMu   sync.Mutex
	events    []Event
	eventKick chan struct{}
}

// onEvent is Config.OnEvent: it records e and never blocks.
func (h *harness) onEvent(e Event) {
	h.eventMu.Lock()
	h.events = append(h.events, e)
	h.eventMu.Unlock()
	select {
	case h.eventKick <- struct{}{}:
	default:
	}
}

// nextEvent removes and returns the oldest event not yet seen, if any.
func (h *harness) nextEvent() (Event, bool) {
	h.eventMu.Lock()
	defer h.eventMu.Unlock()
	if len(h.events) == 0 {
		return Event{}, false
	}
	e := h.events[0]
	h.events = h.events[1:]
	return e, true
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startSwitch(t *testing.T, cfg Config) *harness {
	t.Helper()
	dir, err := os.MkdirTemp("", "swt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h := &harness{t: t, dir: dir + "/s", eventKick: make(chan struct{}, 1)}
	cfg.SocketDir = h.dir
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.OnEvent == nil {
		cfg.OnEvent = h.onEvent
	}
	sw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.sw = sw
	runSwitch(t, sw)
	return h
}

// runSwitch runs sw until the returned stop is called; stop returns what
// Run returned.
func runSwitch(t *testing.T, sw *Switch) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()
	select {
	case <-sw.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return stop
}

// dial connects as tenant name and waits for the switch's sysmsg.Connected or
// sysmsg.Replaced event, so that the connection is live when it returns.
func (h *harness) dial(name string) *guest.Conn {
	h.t.Helper()
	g, err := guest.Dial(h.sw.SocketPath(name))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { g.Close() })
	h.waitEvent(name, sysmsg.Connected, sysmsg.Replaced)
	return g
}

func (h *harness) waitEvent(name string, kinds ...sysmsg.EventKind) Event {
	h.t.Helper()
	timeout := time.After(testTimeout)
	for {
		e, ok := h.nextEvent()
		if !ok {
			select {
			case <-h.eventKick:
			case <-timeout:
				h.t.Fatalf("no %v event for %s", kinds, name)
			}
			continue
		}
		if e.Tenant != name {
			continue
		}
		for _, k := range kinds {
			if e.Kind == k {
				return e
			}
		}
	}
}

func (h *harness) counters(name string) Counters {
	h.t.Helper()
	for _, c := range h.sw.Counters() {
		if c.Tenant == name {
			if !c.Balanced() {
				h.t.Errorf("%s counters not balanced: %+v", name, c)
			}
			return c
		}
	}
	h.t.Fatalf("no tenant %s", name)
	return Counters{}
}

// mkFrame builds a valid frame.
func mkFrame(t testing.TB, typ frame.Type, src, dst frame.APID, payload string) frame.Frame {
	t.Helper()
	var f frame.Frame
	if err := frame.Encode(&f, typ, src, dst, []byte(payload)); err != nil {
		t.Fatal(err)
	}
	return f
}

// readFrame reads one frame with the test timeout.
func readFrame(t testing.TB, g *guest.Conn) frame.Frame {
	t.Helper()
	g.SetReadDeadline(time.Now().Add(testTimeout))
	var f frame.Frame
	if err := g.ReadFrame(&f); err != nil {
		t.Fatalf("read: %v", err)
	}
	return f
}

// barrier sends a HEALTH request to 0x001 from src and reads until the reply
// comes back: every frame g sent before it has then been routed. It returns
// the frames read before the reply.
func barrier(t testing.TB, g *guest.Conn, src frame.APID) []frame.Frame {
	t.Helper()
	f := mkFrame(t, frame.Health, src, sysmsg.APIDHealth, "")
	if err := g.WriteFrame(&f); err != nil {
		t.Fatal(err)
	}
	var before []frame.Frame
	for {
		r := readFrame(t, g)
		if r.Type() == frame.Health && r.APID() == sysmsg.APIDHealth {
			return before
		}
		before = append(before, r)
	}
}

// errorFrame is the ERROR frame the switch must answer rejected with.
func errorFrame(code frame.ErrorCode, rejected *frame.Frame) frame.Frame {
	var e frame.Frame
	frame.EncodeError(&e, code, rejected)
	return e
}

// restricted is a policy where camera may send to processor only.
func restricted() *policy.Policy {
	return &policy.Policy{Source: "test", Tenants: []policy.Tenant{
		{Name: "camera", Owns: []policy.Range{{First: 0x010, Last: 0x01F}}, CanSendTo: []string{"processor"}},
		{Name: "processor", Owns: []policy.Range{{First: 0x020, Last: 0x02F}}, CanSendTo: []string{"camera", "spaceos"}},
		{Name: "spaceos", Owns: []policy.Range{{First: 0x100, Last: 0x2FF}}, CanSendTo: []string{"camera", "processor"}},
	}}
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// frameBytes is fs as one []byte, for a test writing raw bytes.
func frameBytes(fs []frame.Frame) []byte {
	b := make([]byte, 0, len(fs)*frame.Size)
	for i := range fs {
		b = append(b, fs[i][:]...)
	}
	return b
}
