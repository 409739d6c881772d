package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"spacenet/camera/camsim"
	"spacenet/ops/metrics/ipcmetrics/ipcmetricstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// signalWriter keeps what is written and closes wrote at the first write.
type signalWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() == 0 {
		close(w.wrote)
	}
	return w.buf.Write(p)
}

// TestMetricsListen: the processor's run with --metrics-listen against a
// switch and a camera (camsim) in this process: it checks the picture,
// prints its line, and stays up serving /metrics, where its node's calls
// are counted exactly: 1 capture, one read_image per 64 KiB of the
// picture, 1 status, all ok.
func TestMetricsListen(t *testing.T) {
	sw := ipcmetricstest.Switch(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), ipcmetricstest.Timeout)
	defer cancel()

	ipcmetricstest.Camera(t, sw, nil)

	addrs := make(chan net.Addr, 1)
	out := &signalWriter{wrote: make(chan struct{})}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, options{socketDir: sw.SocketDir(), exposure: 100, metricsListen: "127.0.0.1:0",
			onMetrics: func(a net.Addr) { addrs <- a }}, out, ipcmetricstest.Quiet())
	}()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("run ended before serving metrics: %v", err)
	}
	select {
	case <-out.wrote:
	case err := <-done:
		t.Fatalf("run ended before the picture was checked: %v", err)
	}

	body := ipcmetricstest.Scrape(t, "http://"+addr.String()+"/metrics")
	reads := (camsim.ImageSize + 65535) / 65536
	calls := 1 + reads + 1
	ipcmetricstest.WantLines(t, body,
		fmt.Sprintf(`spacenet_ipc_calls_total{node="processor",outcome="ok"} %d`, calls),
		`spacenet_ipc_calls_total{node="processor",outcome="server_death"} 0`,
		`spacenet_ipc_refusals_total{node="processor",reason="not_permitted"} 0`,
		fmt.Sprintf(`spacenet_ipc_call_duration_seconds_count{node="processor"} %d`, calls),
		fmt.Sprintf(`spacenet_ipc_call_duration_seconds_bucket{node="processor",le="+Inf"} %d`, calls),
		`spacenet_ipc_served_total{node="processor",outcome="ok"} 0`,
	)
	// Still serving until interrupted; then run returns nil.
	stop()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	if want := fmt.Sprintf("%d bytes read and checked", camsim.ImageSize); !strings.Contains(out.buf.String(), want) {
		t.Errorf("output %q lacks %q", out.buf.String(), want)
	}
}
