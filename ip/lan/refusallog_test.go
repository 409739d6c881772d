package lan

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestRefusalLogged: at debug level a dropped frame is logged as "frame
// refused" with tenant, port and reason (the APID switch's shape), thinned
// per port and reason: 7 runts give the limiter's burst of 5 lines. At
// info level, none.
func TestRefusalLogged(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var buf bytes.Buffer
		s := New(Options{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))})
		ps := memPorts(t, s, pc("a", "t"), pc("b", "t"))
		var runts [][]byte
		for range 7 {
			runts = append(runts, make([]byte, 13))
		}
		send(t, ps[0], runts...)
		send(t, ps[0], eth(bcast, bcast, 0x88b5, nil, 60)) // a group source MAC
		if sa, _ := s.Port("a"); sa.RxDrops[ReasonRunt] != 7 {
			t.Errorf("runts counted %d, want 7", sa.RxDrops[ReasonRunt])
		}
		s.Close()
		var got []string
		for _, l := range strings.Split(buf.String(), "\n") {
			if i := strings.Index(l, `msg="frame refused"`); i >= 0 {
				got = append(got, l[i:])
			}
		}
		var want []string
		if level == slog.LevelDebug {
			for range 5 {
				want = append(want, `msg="frame refused" tenant=t port=a reason=runt suppressed=0`)
			}
			want = append(want, `msg="frame refused" tenant=t port=a reason=bad_src suppressed=0`)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("level %v:\n%s\nwant\n%s", level, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
