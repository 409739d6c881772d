package logging

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/internal/logging/logtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds every wait, so that a bug fails the test instead of
// hanging it. It is a safety net, not a synchronisation.
const testTimeout = 10 * time.Second

// gateWriter is a writer that blocks: each Write announces itself on
// entered and then waits until open is closed.
type gateWriter struct {
	entered chan struct{}
	open    chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func newGateWriter() *gateWriter {
	return &gateWriter{entered: make(chan struct{}, 1), open: make(chan struct{})}
}

func (g *gateWriter) Write(p []byte) (int, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

func (g *gateWriter) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

// plainText is a text handler without the time, for exact output.
func plainText(w interface{ Write([]byte) (int, error) }) slog.Handler {
	return slog.NewTextHandler(w, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
}

// within runs f and fails the test if it does not return in testTimeout.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatalf("%s did not return", what)
	}
}

// TestAsyncBlockedWriter: while the writer is stuck, logging returns at
// once; what fits in the buffer is written afterwards in order, what does
// not is counted and reported on the next line written.
func TestAsyncBlockedWriter(t *testing.T) {
	const size, extra = 4, 3
	gw := newGateWriter()
	a := NewAsync(plainText(gw), size)
	a.Start()
	log := slog.New(a)
	log.Info("first")
	select {
	case <-gw.entered: // the goroutine holds "first" and is stuck writing it
	case <-time.After(testTimeout):
		t.Fatal("the goroutine never wrote")
	}
	within(t, "logging to a stuck writer", func() {
		for i := range size + extra {
			log.Info("line", "i", i)
		}
	})
	if a.Dropped() != extra {
		t.Errorf("Dropped = %d, want %d", a.Dropped(), extra)
	}
	close(gw.open)
	within(t, "Close", func() {
		if err := a.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	log.Info("after close")
	want := `level=INFO msg=first
level=INFO msg=line i=0 logs_dropped=3
level=INFO msg=line i=1
level=INFO msg=line i=2
level=INFO msg=line i=3
`
	if got := gw.String(); got != want {
		t.Errorf("written:\n%s\nwant:\n%s", got, want)
	}
	if a.Dropped() != extra+1 || a.Failed() != 0 {
		t.Errorf("Dropped %d Failed %d, want %d and 0", a.Dropped(), a.Failed(), extra+1)
	}
}

// TestAsyncStuckPipe: a text handler on a full pipe nobody reads, as stderr
// on a pipe nobody drains: 10,000 lines are logged at once, all but the
// buffer's worth dropped and counted; Close gives up when its context ends,
// and the goroutine returns once the pipe breaks (goleak checks).
func TestAsyncStuckPipe(t *testing.T) {
	const size, lines = 64, 10000
	p := logtest.StuckPipe(t)
	a := NewAsync(slog.NewTextHandler(p.W, nil), size)
	a.Start()
	log := slog.New(a).With("tenant", "camera")
	within(t, "logging to a stuck pipe", func() {
		for i := range lines {
			log.Info("system frame not handled", "count", i)
		}
	})
	// The goroutine may hold one record, stuck in its write.
	if d := a.Dropped(); d != lines-size && d != lines-size-1 {
		t.Errorf("Dropped = %d, want %d or %d", d, lines-size, lines-size-1)
	}
	if err := a.CloseWithin(0); err != context.DeadlineExceeded {
		t.Errorf("CloseWithin(0) with the writer stuck = %v, want context.DeadlineExceeded", err)
	}
	p.Unstick()
	within(t, "Close after the pipe broke", func() {
		if err := a.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if got := a.Dropped() + a.Failed(); got != lines {
		t.Errorf("Dropped %d + Failed %d = %d, want %d: every line written (and failed) or dropped", a.Dropped(), a.Failed(), got, lines)
	}
}

// TestAsyncDerived: WithAttrs and WithGroup write through the same buffer
// and counters; Enabled follows the wrapped handler.
func TestAsyncDerived(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	a := NewAsync(h, 8)
	log := slog.New(a)
	if log.Enabled(context.Background(), slog.LevelInfo) || !log.Enabled(context.Background(), slog.LevelWarn) {
		t.Error("Enabled does not follow the wrapped handler's level")
	}
	log.With("tenant", "camera").WithGroup("frame").Warn("refused", "apid", 16)
	log.Warn("plain")
	a.Start()
	within(t, "Close", func() { a.Close(context.Background()) })
	want := "level=WARN msg=refused tenant=camera frame.apid=16\nlevel=WARN msg=plain\n"
	if buf.String() != want {
		t.Errorf("written %q, want %q", buf.String(), want)
	}
}

// TestAsyncNeverStarted: Close without Start drops and counts what was
// queued and starts no goroutine.
func TestAsyncNeverStarted(t *testing.T) {
	var buf strings.Builder
	a := NewAsync(plainText(&buf), 8)
	log := slog.New(a)
	for range 3 {
		log.Info("x")
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	log.Info("after")
	if a.Dropped() != 4 || buf.Len() != 0 {
		t.Errorf("Dropped %d, written %q; want 4 and nothing", a.Dropped(), buf.String())
	}
}

func TestWrap(t *testing.T) {
	l, a, owned := Wrap(slog.New(plainText(&strings.Builder{})), 8)
	if !owned || l.Handler() != slog.Handler(a) {
		t.Fatalf("Wrap of a synchronous logger: owned %v, handler %T", owned, l.Handler())
	}
	l2, a2, owned2 := Wrap(l.With("k", "v"), 8)
	if owned2 || a2.s != a.s || l2.Handler() == nil {
		t.Errorf("Wrap of an Async logger: owned %v, same sink %v", owned2, a2.s == a.s)
	}
	var nilAsync *Async
	nilAsync.Start()
	if nilAsync.Close(context.Background()) != nil || nilAsync.Dropped() != 0 || nilAsync.Failed() != 0 {
		t.Error("a nil Async is not inert")
	}
}

func TestNewHandler(t *testing.T) {
	tests := []struct {
		format, level string
		want          string // output of Info("m", "k", 1) and Debug("d"), or the error
	}{
		{"text", "info", `level=INFO msg=m k=1`},
		{"json", "debug", `{"level":"INFO","msg":"m","k":1}{"level":"DEBUG","msg":"d"}`},
		{"text", "warn", ``},
		{"xml", "info", `format "xml": want text or json`},
		{"text", "loud", `level "loud": want debug, info, warn or error`},
	}
	for _, tt := range tests {
		var buf strings.Builder
		h, err := NewHandler(&buf, tt.format, tt.level)
		var got string
		if err != nil {
			got = err.Error()
		} else {
			l := slog.New(noTime{h})
			l.Info("m", "k", 1)
			l.Debug("d")
			got = strings.ReplaceAll(buf.String(), "\n", "")
		}
		if got != tt.want {
			t.Errorf("NewHandler(%s, %s): got %q, want %q", tt.format, tt.level, got, tt.want)
		}
	}
}

// noTime passes records on with a zero time, which the built-in handlers
// leave out.
type noTime struct{ slog.Handler }

func (h noTime) Handle(ctx context.Context, r slog.Record) error {
	r.Time = time.Time{}
	return h.Handler.Handle(ctx, r)
}
