package main

import (
	"context"
	"errors"
	"net"
	"testing"

	"go.uber.org/goleak"

	"spacenet/camera/cameraipc"
	"spacenet/ipc"
	"spacenet/ops/metrics/ipcmetrics/ipcmetricstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMetricsListen: camera-server's run with --metrics-listen, against a
// switch in this process: after the processor's 2 Status calls and a
// call of an unknown op, /metrics shows exactly those answers for the
// camera node.
func TestMetricsListen(t *testing.T) {
	sw := ipcmetricstest.Switch(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), ipcmetricstest.Timeout)
	defer cancel()

	addrs := make(chan net.Addr, 1)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, options{socketDir: sw.SocketDir(), metricsListen: "127.0.0.1:0",
			onMetrics: func(a net.Addr) { addrs <- a }}, ipcmetricstest.Quiet())
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("run ended before serving metrics: %v", err)
	}

	proc := ipcmetricstest.Node(t, sw, nil, "processor", nil)
	cam := proc.Client(0x010)
	for _, req := range []ipc.Request{
		{Op: cameraipc.CameraOpStatus, ReplyCap: 64},
		{Op: cameraipc.CameraOpStatus, ReplyCap: 64},
		{Op: 99, ReplyCap: 64},
	} {
		var rep ipc.Reply
		if err := cam.Call(ctx, &req, &rep); err != nil && !errors.Is(err, ipc.UnknownOperation) {
			t.Fatalf("op %d: %v", req.Op, err)
		}
	}

	body := ipcmetricstest.Scrape(t, "http://"+addr.String()+"/metrics")
	ipcmetricstest.WantLines(t, body,
		`spacenet_ipc_served_total{node="camera",outcome="ok"} 2`,
		`spacenet_ipc_served_total{node="camera",outcome="unknown_operation"} 1`,
		`spacenet_ipc_served_total{node="camera",outcome="access_violation"} 0`,
		`spacenet_ipc_calls_total{node="camera",outcome="ok"} 0`,
		`spacenet_ipc_call_duration_seconds_count{node="camera"} 0`,
	)
}
