package vmtest_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/apid/apidswitch"
	"spacenet/apid/policy"
	"spacenet/apid/sysmsg"
	"spacenet/internal/vmtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds every wait so that a bug fails a test instead of
// hanging it; guests boot in 2-5 s under TCG, more on a loaded machine.
const testTimeout = 60 * time.Second

// needQEMU skips t where QEMU cannot run guests, saying what is missing.
func needQEMU(t *testing.T) {
	t.Helper()
	if err := vmtest.Available(); err != nil {
		t.Skip(err)
	}
}

// image builds (or finds in the cache) an image with programs.
func image(t *testing.T, programs map[string]string) *vmtest.Image {
	t.Helper()
	return imageSpec(t, vmtest.Spec{Programs: programs})
}

// imageSpec builds (or finds in the cache) the image of spec.
func imageSpec(t *testing.T, spec vmtest.Spec) *vmtest.Image {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	img, err := vmtest.Build(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s (cached %v) in %v", img.Initrd, img.Cached, time.Since(start).Round(time.Millisecond))
	return img
}

// cameraImage is the image of TestCameraGuest, TestUp and TestSerialGuest
// (one cache entry): camera-server and spacenet.
func cameraImage(t *testing.T) *vmtest.Image {
	return image(t, map[string]string{
		"camera-server": "spacenet/examples/camera-server",
		"spacenet":      "spacenet/cmd/spacenet",
	})
}

// console collects a guest's console, logged when the test fails.
type console struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *console) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(b)
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// startVM starts a guest, killed at cleanup; its console is logged if the
// test fails.
func startVM(t *testing.T, name string, cfg vmtest.VMConfig) *vmtest.VM {
	t.Helper()
	con, ok := cfg.Console.(*console)
	if !ok {
		con = &console{}
		cfg.Console = con
	}
	v, err := vmtest.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		v.Kill()
		if t.Failed() {
			t.Logf("console of %s:\n%s", name, con.String())
		}
	})
	return v
}

// switchEnv is a real APID switch on a fresh socket directory, with its
// tenant events on a channel.
type switchEnv struct {
	sw     *apidswitch.Switch
	events chan apidswitch.Event
}

func startSwitch(t *testing.T) *switchEnv { return startSwitchPolicy(t, nil) }

// startSwitchPolicy is startSwitch with policy p (nil: the v0 policy).
func startSwitchPolicy(t *testing.T, p *policy.Policy) *switchEnv {
	t.Helper()
	e := &switchEnv{events: make(chan apidswitch.Event, 64)}
	sw, err := apidswitch.New(apidswitch.Config{
		Policy:    p,
		SocketDir: t.TempDir() + "/s",
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnEvent: func(ev apidswitch.Event) {
			t.Logf("switch event %+v", ev)
			select {
			case e.events <- ev:
			default:
				t.Errorf("switch event %+v: channel full", ev)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.sw = sw
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
	return e
}

// waitEvent waits for the event of tenant of kind kind.
func (e *switchEnv) waitEvent(t *testing.T, tenant string, kind sysmsg.EventKind) apidswitch.Event {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		select {
		case ev := <-e.events:
			if ev.Tenant == tenant && ev.Kind == kind {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %v event of %s in %v", kind, tenant, testTimeout)
		}
	}
}

// counters returns tenant's counters.
func (e *switchEnv) counters(t *testing.T, tenant string) apidswitch.Counters {
	t.Helper()
	for _, c := range e.sw.Counters() {
		if c.Tenant == tenant {
			return c
		}
	}
	t.Fatalf("no tenant %s", tenant)
	return apidswitch.Counters{}
}

// waitFor waits until cond holds: a condition on counters the switch
// exposes, checked every millisecond (not a fixed sleep), failing after
// testTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(testTimeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s: not within %v", what, testTimeout)
		}
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
