package uplink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/apid/apidswitch"
	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/sysmsg"
	"spacenet/internal/logging"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const timeout = 10 * time.Second

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"udp://127.0.0.1:10000", "127.0.0.1:10000", true},
		{"udp://[::1]:53", "[::1]:53", true},
		{"udp://localhost:9", "127.0.0.1:9", true},
		{"tcp://127.0.0.1:1", "", false},
		{"127.0.0.1:1", "", false},
		{"udp://127.0.0.1", "", false},
	}
	for _, tc := range tests {
		a, err := ParseURL(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.in, err)
			continue
		}
		if tc.ok && a.String() != tc.want && !(tc.in == "udp://localhost:9" && a.Port == 9) {
			t.Errorf("%s: %s, want %s", tc.in, a, tc.want)
		}
	}
}

// startSwitch runs a v0 switch with the ground link u (nil for none) in
// layout.
func startSwitch(t *testing.T, u apidswitch.Downlink, layout ccsds.Layout) *apidswitch.Switch {
	t.Helper()
	return startSwitchCfg(t, apidswitch.Config{Downlink: u, Layout: layout})
}

// startSwitchCfg runs a switch of cfg in a fresh socket directory, logging
// nowhere, until the test ends.
func startSwitchCfg(t *testing.T, cfg apidswitch.Config) *apidswitch.Switch {
	t.Helper()
	dir, err := os.MkdirTemp("", "upl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg.SocketDir, cfg.Logger = dir, slog.New(slog.NewTextHandler(io.Discard, nil))
	sw, err := apidswitch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()
	<-sw.Ready()
	t.Cleanup(func() { cancel(); <-done })
	return sw
}

// TestDownlinkUDP: frames to the ground and to an APID nobody owns leave
// as one plain CCSDS packet each in one UDP datagram, byte-exact, with
// per-APID sequence counts.
func TestDownlinkUDP(t *testing.T) {
	ground, u := udpGround(t)
	sw := startSwitch(t, u, ccsds.Plain)
	g, err := guest.Dial(sw.SocketPath("camera"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	frames := make([]frame.Frame, 3)
	frame.Encode(&frames[0], frame.TM, 0x010, 0x000, []byte("to ground"))
	frame.Encode(&frames[1], frame.TC, 0x010, 0x500, []byte("nobody owns 0x500"))
	frame.Encode(&frames[2], frame.TM, 0x011, 0x000, nil)
	if err := g.WriteFrames(frames); err != nil {
		t.Fatal(err)
	}
	// Plain packets, by hand: TM, APID, sequence count per APID, the payload
	// (one zero octet for none).
	want := []string{
		"0010C0000008" + fmt.Sprintf("%X", "to ground"),
		"0010C0010010" + fmt.Sprintf("%X", "nobody owns 0x500"),
		"0011C000000000",
	}
	buf := make([]byte, 2048)
	ground.SetReadDeadline(time.Now().Add(timeout))
	for i := range frames {
		n, err := ground.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%X", buf[:n]); got != want[i] {
			t.Errorf("datagram %d: %s, want %s", i, got, want[i])
		}
	}
	if u.Sent() != 3 {
		t.Errorf("sent %d", u.Sent())
	}
}

// groundEnv is a v0 switch with processor connected, a Listener serving
// into it and the ground's UDP socket toward the listener.
type groundEnv struct {
	sw     *apidswitch.Switch
	proc   *guest.Conn
	dl     *Listener
	ground *net.UDPConn
	stop   func() // ends Serve and checks what it returned
}

func startGround(t *testing.T, layout ccsds.Layout, log *slog.Logger) *groundEnv {
	t.Helper()
	return startGroundOn(t, startSwitch(t, nil, ccsds.Plain), layout, log)
}

// startGroundOn is startGround with the switch sw, processor one of its
// tenants.
func startGroundOn(t *testing.T, sw *apidswitch.Switch, layout ccsds.Layout, log *slog.Logger) *groundEnv {
	t.Helper()
	proc, err := guest.Dial(sw.SocketPath("processor"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Close() })
	dl, err := Listen("udp://127.0.0.1:0", ListenConfig{Layout: layout, Ground: sw.GroundAPID, Inject: sw.Inject, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- dl.Serve(ctx) }()
	ground, err := net.DialUDP("udp", nil, dl.Addr().(*net.UDPAddr))
	if err != nil {
		cancel()
		<-served
		t.Fatal(err)
	}
	t.Cleanup(func() { ground.Close() })
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-served; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return &groundEnv{sw: sw, proc: proc, dl: dl, ground: ground, stop: stop}
}

// TestListenerSpacenet: Space Packets of the spacenet layout from the
// ground are unwrapped and delivered to the tenant owning the destination;
// idle and broken packets are counted.
func TestListenerSpacenet(t *testing.T) {
	e := startGround(t, ccsds.Spacenet, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sw, proc, dl, ground := e.sw, e.proc, e.dl, e.ground
	var f frame.Frame
	frame.Encode(&f, frame.TC, 0x7F0, 0x020, []byte("command from ground"))
	var pkt [ccsds.MaxPacketSize]byte
	n, err := ccsds.Wrap(pkt[:], &f, 7)
	if err != nil {
		t.Fatal(err)
	}
	idle := []byte{0x07, 0xFF, 0xC0, 0x00, 0x00, 0x00, 0x00}
	var nobody frame.Frame
	frame.Encode(&nobody, frame.TM, 0x7F0, 0x600, nil)
	var pkt2 [ccsds.MaxPacketSize]byte
	n2, err := ccsds.Wrap(pkt2[:], &nobody, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range [][]byte{idle, {0x00, 0x01}, pkt2[:n2], pkt[:n]} {
		if _, err := ground.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	proc.SetReadDeadline(time.Now().Add(timeout))
	var got frame.Frame
	if err := proc.ReadFrame(&got); err != nil {
		t.Fatal(err)
	}
	if got != f {
		t.Errorf("processor got %x", got[:32])
	}
	e.stop()
	// The datagrams are read in order, so the last one delivered means all
	// four were counted.
	want := ListenerStats{Received: 4, Injected: 1, Idle: 1, Refused: 1, Undeliverable: 1}
	if s := dl.Stats(); s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
	g := sw.Ground()
	if g.Received != 2 || g.Queued+g.Delivered != 1 || g.Dropped[frame.NoRoute] != 1 {
		t.Errorf("ground %+v", g)
	}
}

func TestSendError(t *testing.T) {
	u, err := Dial("udp://127.0.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	u.Close()
	if err := u.SendPacket([]byte{1}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("send on closed: %v", err)
	}
}

// countHandler records, per message, the "suppressed" attribute of each
// log record.
type countHandler struct {
	mu sync.Mutex
	n  map[string][]uint64
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	var s uint64
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "suppressed" {
			s = a.Value.Uint64()
		}
		return true
	})
	h.mu.Lock()
	h.n[r.Message] = append(h.n[r.Message], s)
	h.mu.Unlock()
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

// fakeClock is a clock the test moves by hand, read by Serve's goroutine.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestListenerLogThinned: every bad datagram is counted, but only Burst of
// each kind are logged per window; the first line of the next window says
// how many were suppressed.
func TestListenerLogThinned(t *testing.T) {
	sw := startSwitch(t, nil, ccsds.Plain)
	proc, err := guest.Dial(sw.SocketPath("processor"))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	h := &countHandler{n: make(map[string][]uint64)}
	dl, err := Listen("udp://127.0.0.1:0", ListenConfig{Layout: ccsds.Spacenet, Inject: sw.Inject, Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{}
	dl.logLimit = logging.NewLimiter(logging.LimitConfig{Every: time.Second, Burst: 2, Now: clock.now})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- dl.Serve(ctx) }()
	ground, err := net.DialUDP("udp", nil, dl.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer ground.Close()

	var nobody, good frame.Frame
	frame.Encode(&nobody, frame.TM, 0x7F0, 0x600, nil)
	frame.Encode(&good, frame.TC, 0x7F0, 0x020, []byte("last"))
	var pn, pg [ccsds.MaxPacketSize]byte
	nn, err := ccsds.Wrap(pn[:], &nobody, 0)
	if err != nil {
		t.Fatal(err)
	}
	ng, err := ccsds.Wrap(pg[:], &good, 1)
	if err != nil {
		t.Fatal(err)
	}
	var dgrams [][]byte
	for range 10 {
		dgrams = append(dgrams, []byte{0x00, 0x01})
	}
	for range 3 {
		dgrams = append(dgrams, pn[:nn])
	}
	dgrams = append(dgrams, pg[:ng])
	// send writes ds and waits until processor has the good frame that ends
	// them: Serve has then handled every one.
	send := func(ds [][]byte) {
		t.Helper()
		for _, d := range ds {
			if _, err := ground.Write(d); err != nil {
				t.Fatal(err)
			}
		}
		proc.SetReadDeadline(time.Now().Add(timeout))
		var got frame.Frame
		if err := proc.ReadFrame(&got); err != nil {
			t.Fatal(err)
		}
		if got != good {
			t.Errorf("processor got %x", got[:32])
		}
	}
	send(dgrams)
	clock.advance(time.Second) // a new window: one more of each is logged with its suppressed count
	send([][]byte{{0x00, 0x01}, pn[:nn], pg[:ng]})
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	want := ListenerStats{Received: 17, Injected: 2, Refused: 11, Undeliverable: 4}
	if s := dl.Stats(); s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// Logged: 2 of the first 10 refusals, then the 11th saying 8 were
	// suppressed; 2 of the first 3 undeliverable, then the 4th saying 1.
	if r, u := h.n["ground packet refused"], h.n["ground frame not delivered"]; !slices.Equal(r, []uint64{0, 0, 8}) || !slices.Equal(u, []uint64{0, 0, 1}) {
		t.Errorf("suppressed counts of the lines logged: refusals %v (want [0 0 8]), undeliverable %v (want [0 0 1])", r, u)
	}
}

// TestServeClosesSocket: once Serve returns, the downlink's socket is
// closed, so its port is free again.
func TestServeClosesSocket(t *testing.T) {
	dl, err := Listen("udp://127.0.0.1:0", ListenConfig{Layout: ccsds.Spacenet, Inject: func(*frame.Frame) error { return nil }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := dl.Serve(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := dl.c.Write(nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("socket still open after Serve: write gave %v", err)
	}
}

// TestListenerForgedSources: over real UDP, the hostile ground's datagrams
// of issue 14 item 1, each a frame claiming a source that is not the
// ground's (processor's 0x020, the receiving tenant's own APID, the switch's
// 0x000 with a fake ERROR, 0x002 with a fake "processor disconnected"
// event), are refused with Apid_not_allocated and counted; processor
// receives only the genuine frame from 0x7F0, sent last.
func TestListenerForgedSources(t *testing.T) {
	e := startGround(t, ccsds.Spacenet, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sw, proc, dl, ground := e.sw, e.proc, e.dl, e.ground

	encode := func(ty frame.Type, src frame.APID, payload []byte) frame.Frame {
		var f frame.Frame
		if err := frame.Encode(&f, ty, src, 0x020, payload); err != nil {
			t.Fatal(err)
		}
		return f
	}
	var fakeError frame.Frame
	victim := encode(frame.TC, 0x020, []byte("a call"))
	frame.EncodeError(&fakeError, frame.NotPermitted, &victim)
	fakeEvent := append([]byte{byte(sysmsg.Disconnected), 9, 0x00, 0x10, 0, 0, 0, 1}, "camera\x00\x00\x00"...)
	frames := []frame.Frame{
		encode(frame.TC, 0x010, []byte("as camera")),
		encode(frame.TC, 0x020, []byte("as processor itself")),
		fakeError,
		encode(frame.Health, sysmsg.APIDEvents, fakeEvent),
		encode(frame.TC, 0x7F0, []byte("genuine")),
	}
	var pkt [ccsds.MaxPacketSize]byte
	for i := range frames {
		n, err := ccsds.Wrap(pkt[:], &frames[i], 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ground.Write(pkt[:n]); err != nil {
			t.Fatal(err)
		}
	}
	proc.SetReadDeadline(time.Now().Add(timeout))
	var got frame.Frame
	if err := proc.ReadFrame(&got); err != nil {
		t.Fatal(err)
	}
	if got != frames[4] {
		t.Fatalf("processor got %x, want only the genuine frame", got[:24])
	}
	e.stop()
	if s, want := dl.Stats(), (ListenerStats{Received: 5, Injected: 1, Undeliverable: 4}); s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
	g := sw.Ground()
	if g.Received != 5 || g.Dropped[frame.APIDNotAllocated] != 4 || g.DroppedTotal() != 4 || g.Delivered+g.Queued != 1 {
		t.Errorf("ground %+v", g)
	}
}

// TestGroundNotListening (issue 13): a ground station that is not
// listening refuses every datagram with an ICMP error. Before, each refusal
// failed the next send (that packet was not sent) and was blamed on it:
// every other packet was lost, under No_route. Now every packet is sent
// (in each layout),
// each refusal is matched to its own packet, and its sender gets a
// Link_failed ERROR naming exactly that frame; the counters move each
// refused frame from DeliveredGround to Dropped[Link_failed].
func TestGroundNotListening(t *testing.T) {
	for _, l := range []ccsds.Layout{ccsds.Plain, ccsds.CFS, ccsds.Spacenet} {
		t.Run(l.String(), func(t *testing.T) { groundNotListening(t, l) })
	}
}

func groundNotListening(t *testing.T, layout ccsds.Layout) {
	// A port nobody listens on: bound, then closed.
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := l.LocalAddr().String()
	l.Close()
	u, err := Dial("udp://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	sw := startSwitch(t, u, layout)
	u.SetRefused(sw.DownlinkRefused)
	g, err := guest.Dial(sw.SocketPath("camera"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	const n = 20
	sent := map[frame.Frame]bool{}
	for i := range n {
		var f frame.Frame
		frame.Encode(&f, frame.TM, 0x010, 0x000, []byte(fmt.Sprintf("to ground %02d", i)))
		sent[f] = true
		if err := g.WriteFrame(&f); err != nil {
			t.Fatal(err)
		}
	}
	g.SetReadDeadline(time.Now().Add(timeout))
	for range n {
		var e frame.Frame
		if err := g.ReadFrame(&e); err != nil {
			t.Fatal(err)
		}
		p, err := frame.ParseErrorPayload(e.Payload())
		if e.Type() != frame.Error || err != nil || p.Code != frame.LinkFailed {
			t.Fatalf("got %x, want a Link_failed ERROR", e[:24])
		}
		var named frame.Frame
		frame.Encode(&named, frame.TM, 0x010, 0x000, p.Echo[:p.OffendingPayLen])
		if !sent[named] {
			t.Fatalf("ERROR names %q, not a frame sent, or one named twice", p.Echo)
		}
		delete(sent, named)
	}
	if u.Sent() != n || u.Refused() != n || sw.DownlinkFailures() != 0 || sw.DownlinkRefusedUnknown() != 0 {
		t.Errorf("uplink sent %d refused %d; switch send failures %d unattributed %d; want %d, %d, 0, 0",
			u.Sent(), u.Refused(), sw.DownlinkFailures(), sw.DownlinkRefusedUnknown(), n, n)
	}
	for _, c := range sw.Counters() {
		if c.Tenant != "camera" {
			continue
		}
		if c.Received != n || c.DeliveredGround != 0 || c.Dropped[frame.LinkFailed] != n || !c.Balanced() {
			t.Errorf("camera counters %+v", c)
		}
	}
}

// udpGround is a ground's UDP socket on loopback and a UDP downlink to it,
// both closed when the test ends.
func udpGround(t *testing.T) (*net.UDPConn, *UDP) {
	t.Helper()
	ground, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ground.Close() })
	u, err := Dial("udp://" + ground.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return ground, u
}

// sendAs dials the switch as tenant and writes frames; the guest is closed
// when the test ends.
func sendAs(t *testing.T, sw *apidswitch.Switch, tenant string, frames []frame.Frame) *guest.Conn {
	t.Helper()
	g, err := guest.Dial(sw.SocketPath(tenant))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	if err := g.WriteFrames(frames); err != nil {
		t.Fatal(err)
	}
	return g
}
