package lan

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spacenet/ip/nic"
)

// chanHandler sends each record as "msg k=v ..." on a channel.
type chanHandler struct{ ch chan string }

func (h chanHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h chanHandler) WithGroup(string) slog.Handler            { return h }
func (h chanHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.ch <- b.String()
	return nil
}

// TestPeerEventsLogged: a qemu-stream port's peers are logged as the APID
// switch logs its guests ("tenant connected", "replaced", "disconnected",
// tenant, generation), with the port.
func TestPeerEventsLogged(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lan")
	h := chanHandler{ch: make(chan string, 64)}
	l, err := Open(DefaultConfig(dir), "", slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	next := func(prefix string) string {
		t.Helper()
		timeout := time.After(10 * time.Second) // a safety net, not a synchronisation
		for {
			select {
			case line := <-h.ch:
				if strings.HasPrefix(line, prefix) {
					return line
				}
			case <-timeout:
				t.Fatalf("no %q line", prefix)
			}
		}
	}
	path := filepath.Join(dir, "camera.sock")
	a, err := nic.DialQEMUStream(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := next("tenant "); got != "tenant connected tenant=camera port=camera generation=1" {
		t.Errorf("got %q", got)
	}
	b, err := nic.DialQEMUStream(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := next("tenant "); got != "tenant replaced tenant=camera port=camera generation=2" {
		t.Errorf("got %q", got)
	}
	a.Close()
	b.Close()
	if got := next("tenant "); got != "tenant disconnected tenant=camera port=camera generation=2" {
		t.Errorf("got %q", got)
	}
}
