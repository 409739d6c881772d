package apidswitch

import (
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/internal/logging"
	"spacenet/internal/logging/logtest"
)

// TestRefusalLogged: at debug level every refused frame is logged as
// "frame refused" (tenant, reason, type, apid, dest), thinned per tenant
// and reason: 8 spoofed frames in one window give the limiter's burst of 5
// lines; in the next window one more line says 3 were suppressed. A
// refusal with another reason has its own lines. At info level nothing.
func TestRefusalLogged(t *testing.T) {
	var clock atomic.Int64
	clock.Store(1e9)
	var buf logtest.Buffer
	sw, err := New(Config{Policy: restricted(), SocketDir: t.TempDir() + "/s",
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	sw.logLimit = logging.NewLimiter(logging.LimitConfig{Now: func() time.Time { return time.Unix(clock.Load(), 0) }})
	stop := runSwitch(t, sw)
	cam, err := guest.Dial(sw.SocketPath("camera"))
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	var fs []frame.Frame
	for range 8 {
		fs = append(fs, mkFrame(t, frame.TM, 0x020, 0x020, "spoof"))
	}
	fs = append(fs, mkFrame(t, frame.TC, 0x010, 0x100, "not permitted"))
	if err := cam.WriteFrames(fs); err != nil {
		t.Fatal(err)
	}
	if got := barrier(t, cam, 0x010); len(got) != 9 {
		t.Fatalf("%d ERRORs, want 9", len(got))
	}
	clock.Add(2) // the next window
	spoof := mkFrame(t, frame.TM, 0x020, 0x020, "spoof")
	cam.WriteFrame(&spoof)
	barrier(t, cam, 0x010)
	if err := stop(); err != nil { // flushes the log
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, `msg="frame refused"`) {
			lines = append(lines, l[strings.Index(l, "msg="):])
		}
	}
	spoofLine := `msg="frame refused" tenant=camera reason=Apid_not_allocated type=TM apid=0x020 dest=0x020 suppressed=`
	want := []string{spoofLine + "0", spoofLine + "0", spoofLine + "0", spoofLine + "0", spoofLine + "0",
		`msg="frame refused" tenant=camera reason=Not_permitted type=TC apid=0x010 dest=0x100 suppressed=0`,
		spoofLine + "3"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestRefusalLogAllocs: at debug level, refusals whose lines the limiter
// suppresses allocate nothing; at info level neither.
func TestRefusalLogAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race")
	}
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		sw, err := New(Config{Policy: restricted(), SocketDir: t.TempDir(),
			Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level}))})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Unix(1e9, 0)
		sw.logLimit = logging.NewLimiter(logging.LimitConfig{Now: func() time.Time { return now }})
		cam := sw.state.Load().tenants[0]
		r := newReader(&conn{sw: sw, t: cam})
		b := batchOf(t, 64, func(_ int, f *frame.Frame) { f.SetAPID(0x020) }) // Apid_not_allocated
		drain := func() {
			for cam.q.peek(64) != nil {
				cam.q.commit(64*frame.Size, make([]*stats, 64))
			}
		}
		r.process(b) // the burst is logged here
		drain()
		if a := testing.AllocsPerRun(100, func() { r.process(b); drain() }); a != 0 {
			t.Errorf("level %v: %v allocations per batch of 64 refused frames", level, a)
		}
	}
}
