package dtn_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/apid/apidswitch"
	"spacenet/apid/dtn"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/policy"
	"spacenet/internal/dtntest"
	"spacenet/internal/netnstest"
)

// host is one side of a pair: a network namespace with its own dtnd, and
// an APID switch whose link dials that dtnd from inside the namespace.
type host struct {
	ns   string
	node *dtntest.Node
	sw   *apidswitch.Switch
	link *dtn.Link
}

// pair is two hosts, A (node dtn://a/, tenant camera 0x010-0x01F) and B
// (node dtn://b/, tenant processor 0x020-0x02F), joined by a veth pair
// (10.77.0.1 in A as vethA, 10.77.0.2 in B) that carries TCPCLv4 from A's
// dtnd to B's. Each switch names the other's tenant range as a remote.
type pair struct {
	a, b   host
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

const (
	camAPID  frame.APID = 0x010
	procAPID frame.APID = 0x020
)

func newPair(t *testing.T, lifetime string) *pair { return newPairOpts(t, lifetime, pairOpts{}) }

// pairOpts are newPairOpts's options.
type pairOpts struct {
	// capture is called with B's namespace once the link between the
	// hosts is up and before the dtnds start.
	capture func(nsB string)
	// ground, if set, is the endpoint of a ground station (on B's node):
	// A's link is also A's ground link, and camera may use it.
	ground string
}

func newPairCapture(t *testing.T, lifetime string, capture func(nsB string)) *pair {
	return newPairOpts(t, lifetime, pairOpts{capture: capture})
}

func newPairOpts(t *testing.T, lifetime string, o pairOpts) *pair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) }) // after everything below has stopped
	p := &pair{}
	p.a.ns = netnstest.NewNetns(t, "dtna")
	p.b.ns = netnstest.NewNetns(t, "dtnb")
	netnstest.In(t, p.a.ns, "ip", "link", "add", "vethA", "type", "veth", "peer", "name", "vethB", "netns", p.b.ns)
	netnstest.In(t, p.a.ns, "ip", "addr", "add", "10.77.0.1/24", "dev", "vethA")
	netnstest.In(t, p.b.ns, "ip", "addr", "add", "10.77.0.2/24", "dev", "vethB")
	netnstest.In(t, p.b.ns, "ip", "link", "set", "vethB", "up") // a veth is up only when both ends are
	netnstest.SetUpAndWait(t, p.a.ns, "lo", "vethA")
	netnstest.SetUpAndWait(t, p.b.ns, "lo", "vethB")
	if o.capture != nil {
		o.capture(p.b.ns)
	}
	p.b.node = dtntest.Start(t, dtntest.Options{NodeID: "dtn://b/", NetNS: p.b.ns, Listen: "0.0.0.0:4556"})
	p.a.node = dtntest.Start(t, dtntest.Options{NodeID: "dtn://a/", NetNS: p.a.ns, Listen: "0.0.0.0:4556", Peers: []string{"10.77.0.2:4556"}})

	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	t.Cleanup(p.stop)
	p.a.start(t, ctx, &p.wg, fmt.Sprintf(`
[[tenant]]
name = "camera"
owns = ["0x010-0x01F"]
can_send_to = ["payload"]
downlink = true

[[remote]]
name = "payload"
owns = ["0x020-0x02F"]
endpoint = "dtn://b/spacenet"
lifetime = %q
`, lifetime), "dtn://a/spacenet", o.ground)
	p.b.start(t, ctx, &p.wg, fmt.Sprintf(`
[[tenant]]
name = "processor"
owns = ["0x020-0x02F"]
can_send_to = ["flight"]

[[remote]]
name = "flight"
owns = ["0x010-0x01F"]
endpoint = "dtn://a/spacenet"
lifetime = %q
`, lifetime), "dtn://b/spacenet", "")
	return p
}

func (h *host) start(t *testing.T, ctx context.Context, wg *sync.WaitGroup, pol, endpoint, ground string) {
	t.Helper()
	pl, err := policy.Parse("policy.toml", []byte(pol))
	if err != nil {
		t.Fatal(err)
	}
	h.link, err = dtn.NewLink(dtn.LinkConfig{
		Agent: h.node.Agent, Endpoint: endpoint,
		Dial:        dtntest.DialIn(h.ns, dtn.Dial),
		ReportGrace: 500 * time.Millisecond,
		Ground:      ground,
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "s")
	cfg := apidswitch.Config{Policy: pl, SocketDir: dir, Remote: h.link}
	if ground != "" {
		cfg.DownlinkFrames = h.link
	}
	h.sw, err = apidswitch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := h.sw.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	go func() {
		defer wg.Done()
		h.link.Run(ctx, h.sw)
	}()
	<-h.sw.Ready()
	// Wait until the link has registered with dtnd: a bundle for an
	// endpoint nobody has registered yet would be delivered to nobody.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := h.link.WaitStats(wctx, func(s dtn.Stats) bool { return s.Connects > 0 }); err != nil {
		t.Fatalf("%s: link did not register with dtnd: %v", endpoint, err)
	}
}

func (p *pair) stop() {
	p.cancel()
	p.wg.Wait()
}

// numbered returns frame i from camera to processor: TM, payload "frame"
// and i as a big-endian uint32.
func numbered(i int) frame.Frame {
	var f frame.Frame
	pl := binary.BigEndian.AppendUint32([]byte("frame"), uint32(i))
	if err := frame.Encode(&f, frame.TM, camAPID, procAPID, pl); err != nil {
		panic(err)
	}
	return f
}

func dial(t *testing.T, h *host, tenant string) *guest.Conn {
	t.Helper()
	g, err := guest.Dial(h.sw.SocketPath(tenant))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// readNumbered reads n frames at g and checks that they are numbered()
// from..from+n-1, in order, byte for byte.
func readNumbered(t *testing.T, g *guest.Conn, from, n int, within time.Duration, p *pair) {
	t.Helper()
	_ = g.SetReadDeadline(time.Now().Add(within))
	for i := from; i < from+n; i++ {
		var f frame.Frame
		if err := g.ReadFrame(&f); err != nil {
			t.Fatalf("frame %d of %d..%d: %v\nlink A %+v\nlink B %+v\nA: %+v\nB: %+v", i, from, from+n-1, err,
				p.a.link.Stats(), p.b.link.Stats(), p.a.sw.Counters(), p.b.sw.RemoteCounters())
		}
		if want := numbered(i); f != want {
			t.Fatalf("frame %d: got type %v apid %v dest %v payload %x, want payload %x", i, f.Type(), f.APID(), f.Dest(), f.Payload(), want.Payload())
		}
	}
}

func waitLink(t *testing.T, l *dtn.Link, within time.Duration, what string, cond func(dtn.Stats) bool) dtn.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	st, err := l.WaitStats(ctx, cond)
	if err != nil {
		t.Fatalf("%s: not within %v: %+v", what, within, st)
	}
	return st
}

// TestPairInOrder: camera on host A sends 3000 frames to processor on host
// B through two dtnds (TCPCLv4 over a veth between two namespaces); they
// arrive in order, byte-exact, and each switch counts every one: A's
// camera DeliveredRemote, B's remote "flight" Received and Delivered, and
// A's link has every bundle reported delivered by B's dtnd. (B's
// Delivered+Queued: the queue's writer counts a frame Delivered once its
// write returns, which may be after the guest has read it.)
func TestPairInOrder(t *testing.T) {
	p := newPair(t, "1m")
	cam := dial(t, &p.a, "camera")
	proc := dial(t, &p.b, "processor")
	const n = 3000
	start := time.Now()
	go func() {
		for i := range n {
			f := numbered(i)
			if err := cam.WriteFrame(&f); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	readNumbered(t, proc, 0, n, 30*time.Second, p)
	elapsed := time.Since(start)
	st := waitLink(t, p.a.link, 20*time.Second, "delivery reports", func(s dtn.Stats) bool { return s.FramesDelivered == n })
	t.Logf("%d frames camera@A -> processor@B in %v (%.0f frames/s); link A: %+v", n, elapsed, n/elapsed.Seconds(), st)
	if st.FramesSent != n || st.Expired != 0 || st.InFlight != 0 {
		t.Errorf("link A: %+v", st)
	}
	ca := p.a.sw.Counters()[0]
	if ca.Received != n || ca.DeliveredRemote != n || ca.DroppedTotal() != 0 || !ca.Balanced() {
		t.Errorf("switch A camera: %+v", ca)
	}
	rb := p.b.sw.RemoteCounters()[0]
	if rb.Tenant != "flight" || rb.Received != n || rb.Delivered+rb.Queued != n || rb.DroppedTotal() != 0 || !rb.Balanced() {
		t.Errorf("switch B remote flight: %+v", rb)
	}
	lb := p.b.link.Stats()
	if lb.FramesIn != n || lb.Duplicates > st.Copies || lb.Gaps != 0 || lb.Malformed != 0 { // copies of a batch whose report was lost arrive as duplicates
		t.Errorf("link B: %+v", lb)
	}
}

// outage takes A's end of the link between the hosts down (as a cable
// pulled) and returns the function that brings it back.
func (p *pair) outage(t *testing.T) (restore func()) {
	t.Helper()
	netnstest.In(t, p.a.ns, "ip", "link", "set", "vethA", "down")
	return func() {
		t.Helper()
		netnstest.SetUpAndWait(t, p.a.ns, "vethA")
	}
}

func send(t *testing.T, g *guest.Conn, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		f := numbered(i)
		if err := g.WriteFrame(&f); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPairOutage: 500 frames through, then the link between the hosts goes
// down (ip link set down) for 3 seconds while camera sends 500 more: they
// wait in A's dtnd and arrive afterwards, in order; nothing is lost or
// refused, and both switches count all 1000.
func TestPairOutage(t *testing.T) {
	p := newPair(t, "1m")
	cam := dial(t, &p.a, "camera")
	proc := dial(t, &p.b, "processor")
	send(t, cam, 0, 500)
	readNumbered(t, proc, 0, 500, 20*time.Second, p)
	restore := p.outage(t)
	send(t, cam, 500, 500)
	// Every frame is in a bundle in A's dtnd before the link comes back.
	waitLink(t, p.a.link, 20*time.Second, "frames handed to dtnd", func(s dtn.Stats) bool { return s.FramesSent == 1000 })
	// The outage lasts 3s of wall time: it is the scenario, not a wait
	// for something to happen.
	<-time.After(3 * time.Second)
	if got := p.b.sw.RemoteCounters()[0].Received; got != 500 {
		t.Fatalf("during the outage B received %d frames from A, want 500", got)
	}
	back := time.Now()
	restore()
	readNumbered(t, proc, 500, 500, 60*time.Second, p)
	t.Logf("the 500 frames sent during the outage arrived %v after the link came back", time.Since(back))
	st := waitLink(t, p.a.link, 30*time.Second, "delivery reports", func(s dtn.Stats) bool { return s.FramesDelivered == 1000 })
	t.Logf("link A: %+v", st)
	if st.FramesExpired != 0 || st.Refused != 0 {
		t.Errorf("link A: %+v", st)
	}
	ca := p.a.sw.Counters()[0]
	if ca.Received != 1000 || ca.DeliveredRemote != 1000 || ca.DroppedTotal() != 0 || !ca.Balanced() {
		t.Errorf("switch A camera: %+v", ca)
	}
	rb := p.b.sw.RemoteCounters()[0]
	if rb.Received != 1000 || rb.Delivered+rb.Queued != 1000 || rb.DroppedTotal() != 0 || !rb.Balanced() {
		t.Errorf("switch B remote flight: %+v", rb)
	}
}

// TestPairExpiry: with a 2s lifetime, frames sent while the link is down
// for longer are not delivered: each is counted Link_failed on A and its
// sender gets an ERROR naming it (Link_failed, the frame's first payload
// bytes echoed), in order; B never delivers them, and the next frame after
// the link is back arrives once B gives up waiting for the expired
// bundles (Gaps).
func TestPairExpiry(t *testing.T) {
	p := newPair(t, "2s")
	cam := dial(t, &p.a, "camera")
	proc := dial(t, &p.b, "processor")
	restore := p.outage(t)
	const n = 10
	send(t, cam, 0, n)
	_ = cam.SetReadDeadline(time.Now().Add(20 * time.Second))
	for i := range n {
		var e frame.Frame
		if err := cam.ReadFrame(&e); err != nil {
			t.Fatalf("ERROR %d: %v; link A %+v", i, err, p.a.link.Stats())
		}
		ep, err := frame.ParseErrorPayload(e.Payload())
		f := numbered(i)
		var echo [frame.ErrorEchoSize]byte
		copy(echo[:], f.Payload())
		if e.Type() != frame.Error || e.APID() != frame.APIDSwitch || e.Dest() != camAPID || err != nil ||
			ep.Code != frame.LinkFailed || ep.OffendingAPID != uint16(camAPID) || ep.Echo != echo {
			t.Fatalf("notice %d: type %v apid %v dest %v payload %+v (%v), want Link_failed echoing %x", i, e.Type(), e.APID(), e.Dest(), ep, err, echo)
		}
	}
	st := p.a.link.Stats()
	if st.FramesExpired != n || st.FramesDelivered != 0 {
		t.Errorf("link A: %+v", st)
	}
	ca := p.a.sw.Counters()[0]
	if ca.Received != n || ca.DeliveredRemote != 0 || ca.Dropped[frame.LinkFailed] != n || !ca.Balanced() || ca.NoticesQueued != n {
		t.Errorf("switch A camera: %+v", ca)
	}
	restore()
	// After the link is back, A's dtnd reconnects to B's within its own
	// retry time (10s), which may outlast a 2s lifetime: send a new frame
	// every 3s until one arrives. The first to arrive must be one of
	// these: none of the expired ones ever does.
	var got frame.Frame
	for i := n; ; i++ {
		if i == n+20 {
			t.Fatalf("no frame reached B within 60s of the link coming back; link A %+v", p.a.link.Stats())
		}
		send(t, cam, i, 1)
		_ = proc.SetReadDeadline(time.Now().Add(3 * time.Second))
		if err := proc.ReadFrame(&got); err == nil {
			break
		}
	}
	first := int(binary.BigEndian.Uint32(got.Payload()[5:]))
	if first < n || got != numbered(first) {
		t.Fatalf("first frame at B: %x, want one sent after the link came back (>= %d)", got.Payload(), n)
	}
	lb := p.b.link.Stats()
	rb := p.b.sw.RemoteCounters()[0]
	if rb.Received != 1 || rb.Delivered+rb.Queued != 1 || lb.Gaps == 0 {
		t.Errorf("B: remote %+v, link %+v", rb, lb)
	}
	t.Logf("link A: %+v\nlink B: %+v", st, lb)
}
