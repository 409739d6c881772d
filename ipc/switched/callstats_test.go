package switched

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/policy"
	"spacenet/camera/cameraipc"
	"spacenet/camera/camsim"
	"spacenet/ipc"
)

func TestLatencyBucket(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{-time.Second, 0},
		{0, 0},
		{25 * time.Microsecond, 0},
		{25*time.Microsecond + 1, 1},
		{50 * time.Microsecond, 1},
		{50*time.Microsecond + 1, 2},
		{100 * time.Microsecond, 2},
		{time.Millisecond, 6}, // 800 µs < 1 ms <= 1.6 ms
		{LatencyBound(NumLatencyBuckets - 1), NumLatencyBuckets - 1},
		{LatencyBound(NumLatencyBuckets-1) + 1, NumLatencyBuckets},
		{time.Hour, NumLatencyBuckets},
	} {
		if got := latencyBucket(tc.d); got != tc.want {
			t.Errorf("latencyBucket(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
	if LatencyBound(0) != 25*time.Microsecond || LatencyBound(NumLatencyBuckets-1) != 13107200*time.Microsecond {
		t.Errorf("bounds %v .. %v, want 25µs .. 13.1072s", LatencyBound(0), LatencyBound(NumLatencyBuckets-1))
	}
}

func TestOutcomeOf(t *testing.T) {
	for _, tc := range []struct {
		err     error
		refused frame.ErrorCode
		want    Outcome
	}{
		{nil, 0, OutcomeOK},
		{nil, frame.HostBusy, OutcomeOK},
		{ipc.AccessViolation, frame.NotPermitted, OutcomeRefused},
		{&SwitchError{Code: frame.HostBusy}, frame.HostBusy, OutcomeRefused},
		{ipc.AccessViolation, 0, Outcome(ipc.AccessViolation)},
		{fmt.Errorf("wrapped: %w", ipc.ServerDeath), 0, OutcomeServerDeath},
		{ipc.Fault(99), 0, OutcomeError},
		{context.DeadlineExceeded, 0, OutcomeDeadline},
		{context.Canceled, 0, OutcomeCanceled},
		{fmt.Errorf("x: %w", ErrServerBusy), 0, OutcomeBusy},
		{fmt.Errorf("x: %w: %w", ErrClosed, errors.New("EOF")), 0, OutcomeClosed},
		{&ipc.BadReplyError{Interface: "switched", Op: "1", Err: ipc.ErrMalformed}, 0, OutcomeBadReply},
		{errors.New("request too large"), 0, OutcomeError},
	} {
		if got := outcomeOf(tc.err, tc.refused); got != tc.want {
			t.Errorf("outcomeOf(%v, %v) = %v, want %v", tc.err, tc.refused, got, tc.want)
		}
	}
	seen := map[string]bool{}
	for o := range Outcome(NumOutcomes) {
		s := o.String()
		if s == "" || seen[s] {
			t.Errorf("outcome %d named %q (empty or twice)", o, s)
		}
		seen[s] = true
	}
}

// TestCallOutcomes: a known pattern of calls through a real switch, each
// outcome counted exactly, on the caller's side (CallOutcomes,
// CallsRefused, the latency histogram's count) and on the server's
// (Answers).
func TestCallOutcomes(t *testing.T) {
	pol := policy.Default()
	pol.Tenants = append(pol.Tenants, policy.Tenant{Name: "outsider", Owns: []policy.Range{{First: 0x300, Last: 0x30F}}, CanSendTo: []string{"processor"}})
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	e := startSwitch(t, pol)
	var srv, failing *Server
	camN := e.node("camera", func(n *Node) {
		srv = serveCamera(t, n, cameraipc.NewCameraDispatcher(&camsim.Camera{}))
		var err error
		failing, err = n.Serve(ServerConfig{APID: 0x012, Handler: ipc.HandlerFunc(
			func(ctx context.Context, caller ipc.Caller, req *ipc.Request, rep *ipc.Reply) error {
				return errors.New("sensor on fire")
			})})
		if err != nil {
			t.Fatal(err)
		}
	})
	run(t, srv, nil)
	run(t, failing, nil)
	proc := e.node("processor", nil)
	out := e.node("outsider", nil)
	ctx := ctxT(t)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	status := ipc.Request{Op: cameraipc.CameraOpStatus, ReplyCap: 64}
	for _, c := range []struct {
		from *Node
		dest frame.APID
		ctx  context.Context
		req  ipc.Request
		want error
	}{
		{proc, cameraAPID, ctx, status, nil},
		{proc, cameraAPID, ctx, status, nil},
		{proc, cameraAPID, ctx, ipc.Request{Op: 99, ReplyCap: 64}, ipc.UnknownOperation},
		{proc, 0x012, ctx, status, ipc.ServerDeath},
		{proc, 0x011, ctx, status, ipc.WentAway}, // no server there: the camera's runtime answers
		{proc, cameraAPID, canceled, status, context.Canceled},
		{out, cameraAPID, ctx, status, ipc.AccessViolation}, // the switch refuses: Not_permitted
	} {
		var rep ipc.Reply
		if err := c.from.Client(c.dest).Call(c.ctx, &c.req, &rep); !errors.Is(err, c.want) {
			t.Fatalf("call of op %d to %v from %s: %v, want %v", c.req.Op, c.dest, c.from.Tenant(), err, c.want)
		}
	}
	var want [NumOutcomes]uint64
	want[OutcomeOK] = 2
	want[ipc.UnknownOperation] = 1
	want[OutcomeServerDeath] = 1
	want[ipc.WentAway] = 1
	want[OutcomeCanceled] = 1
	st := proc.Stats()
	checkOutcomes(t, "processor's calls", st.CallOutcomes, want)
	if st.CallsRefused != [16]uint64{} {
		t.Errorf("processor's calls refused %v, want none", st.CallsRefused)
	}
	if got := st.Latency.Count(); got != 6 || st.Latency.Sum <= 0 {
		t.Errorf("processor's latency histogram holds %d calls (sum %v), want 6", got, st.Latency.Sum)
	}

	want = [NumOutcomes]uint64{OutcomeRefused: 1}
	st = out.Stats()
	checkOutcomes(t, "outsider's calls", st.CallOutcomes, want)
	var refused [16]uint64
	refused[frame.NotPermitted] = 1
	if st.CallsRefused != refused {
		t.Errorf("outsider's calls refused %v, want %v", st.CallsRefused, refused)
	}
	if got := st.Latency.Count(); got != 1 {
		t.Errorf("outsider's latency histogram holds %d calls, want 1", got)
	}

	// The camera answered the 5 calls that reached it (not the canceled
	// one, never sent, nor the outsider's, refused by the switch).
	want = [NumOutcomes]uint64{}
	want[OutcomeOK] = 2
	want[ipc.UnknownOperation] = 1
	want[OutcomeServerDeath] = 1
	want[ipc.WentAway] = 1
	cst := camN.Stats()
	checkOutcomes(t, "camera's answers", cst.Answers, want)
	if cst.Latency.Count() != 0 || cst.CallOutcomes != [NumOutcomes]uint64{} {
		t.Errorf("the camera made no call, but counts %v, %d in the histogram", cst.CallOutcomes, cst.Latency.Count())
	}
}

func checkOutcomes(t *testing.T, what string, got, want [NumOutcomes]uint64) {
	t.Helper()
	if got != want {
		t.Errorf("%s by outcome:", what)
		for o := range Outcome(NumOutcomes) {
			if got[o] != want[o] {
				t.Errorf("  %s = %d, want %d", o, got[o], want[o])
			}
		}
	}
}

// BenchmarkCallAccounting: what the accounting adds to a call, alone:
// the time.Now at the start and the work of ended (time.Since, the
// outcome, three atomic adds), for a call that returned a reply.
func BenchmarkCallAccounting(b *testing.B) {
	var cs callStats
	b.ReportAllocs()
	for b.Loop() {
		cs.ended(time.Now(), nil, 0)
	}
	if cs.outcomes[OutcomeOK].Load() == 0 {
		b.Fatal("nothing counted")
	}
}
