package ipcmetrics_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"spacenet/apid/frame"
	"spacenet/apid/policy"
	"spacenet/camera/cameraipc"
	"spacenet/ipc"
	"spacenet/ipc/switched"
	"spacenet/ops/metrics/ipcmetrics"
	"spacenet/ops/metrics/ipcmetrics/ipcmetricstest"
	"spacenet/ops/metrics/serve"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pattern is a switch in this process (the default policy and an
// "outsider" that may send only to the processor), the camera serving
// camsim on 0x010, and the calls of the known pattern made: from the
// processor 2 Status (ok) and 1 call of op 99 (UnknownOperation); from
// the outsider 1 Status (refused by the switch: Not_permitted).
type pattern struct {
	camera, processor, outsider *switched.Node
}

func startPattern(t *testing.T) *pattern {
	t.Helper()
	pol := policy.Default()
	pol.Tenants = append(pol.Tenants, policy.Tenant{Name: "outsider", Owns: []policy.Range{{First: 0x300, Last: 0x30F}}, CanSendTo: []string{"processor"}})
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	sw := ipcmetricstest.Switch(t, pol)
	ctx, cancel := context.WithTimeout(context.Background(), ipcmetricstest.Timeout)
	t.Cleanup(cancel)
	p := &pattern{
		camera:    ipcmetricstest.Camera(t, sw, pol),
		processor: ipcmetricstest.Node(t, sw, pol, "processor", nil),
		outsider:  ipcmetricstest.Node(t, sw, pol, "outsider", nil),
	}
	status := ipc.Request{Op: cameraipc.CameraOpStatus, ReplyCap: 64}
	for _, c := range []struct {
		from *switched.Node
		req  ipc.Request
		want error
	}{
		{p.processor, status, nil},
		{p.processor, status, nil},
		{p.processor, ipc.Request{Op: 99, ReplyCap: 64}, ipc.UnknownOperation},
		{p.outsider, status, ipc.AccessViolation},
	} {
		var rep ipc.Reply
		if err := c.from.Client(0x010).Call(ctx, &c.req, &rep); !errors.Is(err, c.want) {
			t.Fatalf("%s: op %d: %v, want %v", c.from.Tenant(), c.req.Op, err, c.want)
		}
	}
	return p
}

// TestIPCCollector: the known pattern's exact counts through the
// collector (calls by outcome, refusals by ERROR code, answers by outcome,
// the histogram's count), promlint clean.
func TestIPCCollector(t *testing.T) {
	p := startPattern(t)
	col := ipcmetrics.New(p.camera, p.processor, p.outsider)
	if probs, err := testutil.CollectAndLint(col); err != nil || len(probs) > 0 {
		t.Fatalf("lint: %v %v", err, probs)
	}
	// Every outcome and reason is exported for every node, zeros included.
	if got, want := testutil.CollectAndCount(col, "spacenet_ipc_calls_total"), 3*switched.NumOutcomes; got != want {
		t.Errorf("%d spacenet_ipc_calls_total series, want %d", got, want)
	}
	if got, want := testutil.CollectAndCount(col, "spacenet_ipc_refusals_total"), 3*int(frame.MaxErrorCode); got != want {
		t.Errorf("%d spacenet_ipc_refusals_total series, want %d", got, want)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{} // name{labels} -> value, counters and histogram counts
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			key := f.GetName() + "{" + strings.Join(ls, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				values[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				h := m.GetHistogram()
				values[key+"_count"] = float64(h.GetSampleCount())
				var last uint64
				for _, b := range h.GetBucket() {
					if b.GetCumulativeCount() < last {
						t.Errorf("%s: buckets not cumulative", key)
					}
					last = b.GetCumulativeCount()
				}
				if last != h.GetSampleCount() || len(h.GetBucket()) != switched.NumLatencyBuckets {
					t.Errorf("%s: %d buckets, the last holding %d of %d calls", key, len(h.GetBucket()), last, h.GetSampleCount())
				}
			}
		}
	}
	nonzero := map[string]float64{}
	for k, v := range values {
		if v != 0 {
			nonzero[k] = v
		}
	}
	want := map[string]float64{
		"spacenet_ipc_calls_total{node=processor,outcome=ok}":                2,
		"spacenet_ipc_calls_total{node=processor,outcome=unknown_operation}": 1,
		"spacenet_ipc_calls_total{node=outsider,outcome=refused}":            1,
		"spacenet_ipc_refusals_total{node=outsider,reason=not_permitted}":    1,
		"spacenet_ipc_served_total{node=camera,outcome=ok}":                  2,
		"spacenet_ipc_served_total{node=camera,outcome=unknown_operation}":   1,
		"spacenet_ipc_call_duration_seconds{node=processor}_count":           3,
		"spacenet_ipc_call_duration_seconds{node=outsider}_count":            1,
	}
	for k, w := range want {
		if nonzero[k] != w {
			t.Errorf("%s = %v, want %v", k, nonzero[k], w)
		}
	}
	for k, v := range nonzero {
		if _, ok := want[k]; !ok {
			t.Errorf("%s = %v, want 0", k, v)
		}
	}
	for _, k := range []string{"spacenet_ipc_calls_total{node=camera,outcome=ok}", "spacenet_ipc_refusals_total{node=processor,reason=host_busy}",
		"spacenet_ipc_served_total{node=processor,outcome=busy}", "spacenet_ipc_call_duration_seconds{node=camera}_count"} {
		if _, ok := values[k]; !ok {
			t.Errorf("%s missing (zeros are exported)", k)
		}
	}
}

// TestIPCScrape: the collector served by serve.Listen, scraped over HTTP:
// the text has the pattern's values, and promtool check metrics (Debian's
// prometheus) finds nothing to say about it.
func TestIPCScrape(t *testing.T) {
	p := startPattern(t)
	srv, err := serve.Listen("127.0.0.1:0", ipcmetrics.New(p.camera, p.processor, p.outsider), nil, ipcmetricstest.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	body := ipcmetricstest.Scrape(t, "http://"+srv.Addr().String()+"/metrics")
	ipcmetricstest.WantLines(t, body,
		`spacenet_ipc_calls_total{node="processor",outcome="ok"} 2`,
		`spacenet_ipc_calls_total{node="processor",outcome="unknown_operation"} 1`,
		`spacenet_ipc_calls_total{node="outsider",outcome="refused"} 1`,
		`spacenet_ipc_refusals_total{node="outsider",reason="not_permitted"} 1`,
		`spacenet_ipc_served_total{node="camera",outcome="ok"} 2`,
		`spacenet_ipc_call_duration_seconds_count{node="processor"} 3`,
		`spacenet_ipc_call_duration_seconds_bucket{node="processor",le="+Inf"} 3`,
		`spacenet_ipc_call_duration_seconds_bucket{node="processor",le="13.1072"} 3`,
		`spacenet_ipc_call_duration_seconds_bucket{node="processor",le="1.6384"} 3`,
	)
	if !strings.Contains(body, `spacenet_ipc_call_duration_seconds_bucket{node="processor",le="2.5e-05"} `) {
		t.Error("/metrics has no bucket of 25 µs")
	}
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not installed (scripts/deps.sh installs Debian's prometheus)")
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
