package uplink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
)

// waitConnected waits until the TCP downlink's connected state is want.
func waitConnected(t *testing.T, d *TCP, want bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		up, changed := d.Connected()
		if up == want {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("downlink connected=%v after %v, want %v", up, timeout, want)
		}
	}
}

// readPackets reads n packets from c, back to back, and returns them in hex.
func readPackets(t *testing.T, c net.Conn, n int) []string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, ccsds.MaxLayoutPacketSize)
	var got []string
	for range n {
		p, err := readPacket(c, buf)
		if err != nil {
			t.Fatalf("after %d packets: %v", len(got), err)
		}
		got = append(got, fmt.Sprintf("%X", p))
	}
	return got
}

// TestTCPGroundRestart: a TCP ground goes away and comes back on the same
// port. What was sent while it was away and fitted the queue (8 packets)
// reaches it, in order and byte-exact; the 2 that did not fit are refused
// to camera with Link_failed ERRORs naming them and counted.
func TestTCPGroundRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	d, err := DialTCP("tcp://"+addr, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	sw := startSwitch(t, d, ccsds.Plain)
	cam, err := guest.Dial(sw.SocketPath("camera"))
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	send := func(from, to int) {
		t.Helper()
		var fs []frame.Frame
		for i := from; i < to; i++ {
			var f frame.Frame
			frame.Encode(&f, frame.TM, 0x010, 0x000, []byte(fmt.Sprintf("tm %02d", i)))
			fs = append(fs, f)
		}
		if err := cam.WriteFrames(fs); err != nil {
			t.Fatal(err)
		}
	}
	// Plain packets by hand: APID 0x010, count i, "tm NN".
	want := func(i int) string { return fmt.Sprintf("0010C%03X0004%X", i, fmt.Sprintf("tm %02d", i)) }

	g, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	send(0, 3)
	for i, p := range readPackets(t, g, 3) {
		if p != want(i) {
			t.Errorf("packet %d: %s, want %s", i, p, want(i))
		}
	}
	// The ground restarts: listener and connection closed (the listener
	// first, so that the downlink cannot reconnect in between).
	ln.Close()
	g.Close()
	waitConnected(t, d, false)
	send(3, 13) // 8 fit, 2 do not
	cam.SetReadDeadline(time.Now().Add(timeout))
	for _, i := range []int{11, 12} {
		var e frame.Frame
		if err := cam.ReadFrame(&e); err != nil {
			t.Fatal(err)
		}
		p, err := frame.ParseErrorPayload(e.Payload())
		if err != nil || p.Code != frame.LinkFailed || string(p.Echo[:p.OffendingPayLen]) != fmt.Sprintf("tm %02d", i) {
			t.Fatalf("got %x, want Link_failed for tm %02d", e[:24], i)
		}
	}
	if s := d.Stats(); s != (TCPStats{Sent: 3, Queued: 8, QueueFull: 2}) {
		t.Errorf("while away: %+v", s)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	g, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	for k, p := range readPackets(t, g, 8) {
		if i := 3 + k; p != want(i) {
			t.Errorf("packet %d: %s, want %s", i, p, want(i))
		}
	}
	// The ground leaves again (listener first, so that the downlink cannot
	// reconnect): once the downlink has seen it go, its counters are final.
	ln.Close()
	g.Close()
	waitConnected(t, d, false)
	if s := d.Stats(); s != (TCPStats{Sent: 11, Queued: 0, QueueFull: 2, Reconnects: 1}) {
		t.Errorf("after: %+v", s)
	}
	var c apidswitch.Counters
	for _, x := range sw.Counters() {
		if x.Tenant == "camera" {
			c = x
		}
	}
	if c.Received != 13 || c.DeliveredGround != 11 || c.Dropped[frame.LinkFailed] != 2 || !c.Balanced() {
		t.Errorf("camera %+v", c)
	}
}

// TestTCPListen: with tcp-listen://, the ground connects to the downlink,
// one connection at a time: when the first ends, the next ground
// connection is accepted and gets the packets.
func TestTCPListen(t *testing.T) {
	d, err := DialTCP("tcp-listen://127.0.0.1:0", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pkt := []byte{0x00, 0x10, 0xC0, 0x00, 0x00, 0x00, 0x41}
	if err := d.SendPacket(pkt); err != nil {
		t.Fatal(err)
	}
	g, err := net.Dial("tcp", d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if got := readPackets(t, g, 1); got[0] != fmt.Sprintf("%X", pkt) {
		t.Errorf("got %s", got[0])
	}
	g.Close()
	waitConnected(t, d, false)
	g, err = net.Dial("tcp", d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := d.SendPacket(pkt); err != nil {
		t.Fatal(err)
	}
	if got := readPackets(t, g, 1); got[0] != fmt.Sprintf("%X", pkt) {
		t.Errorf("got %s", got[0])
	}
}

// TestTCPUplink: commands over TCP, back to back, in any cut of the byte
// stream (three in one write, one split across writes), reach processor; a
// packet longer than any layout's is read past and refused, and the
// stream goes on; a stream cut inside a packet counts it refused.
func TestTCPUplink(t *testing.T) {
	sw := startSwitch(t, nil, ccsds.Plain)
	proc, err := guest.Dial(sw.SocketPath("processor"))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	l, _ := serveTCPUplink(t, sw, ccsds.Plain)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cmd := func(s string) []byte {
		return append([]byte{0x10, 0x20, 0xC0, 0x00, 0x00, byte(len(s) - 1)}, s...)
	}
	long := append([]byte{0x10, 0x20, 0xC0, 0x00, 0x01, 0x2B}, make([]byte, 300)...) // 306 octets
	stream := bytes.Join([][]byte{cmd("one"), cmd("two"), long, cmd("three"), cmd("four")}, nil)
	split := len(stream) - 3
	c.Write(stream[:split])
	c.Write(stream[split:])
	c.Write(cmd("cut")[:5])
	// Half-close: the listener reads the cut packet, counts it and closes
	// the connection, which ends our read.
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(timeout))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
	proc.SetReadDeadline(time.Now().Add(timeout))
	for _, want := range []string{"one", "two", "three", "four"} {
		var got, w frame.Frame
		if err := proc.ReadFrame(&got); err != nil {
			t.Fatal(err)
		}
		frame.Encode(&w, frame.TC, 0x7F0, 0x020, []byte(want))
		if got != w {
			t.Fatalf("processor got %x, want %q", got[:16], want)
		}
	}
	if s, want := l.Stats(), (ListenerStats{Received: 6, Injected: 4, Refused: 2}); s != want {
		t.Errorf("stats %+v, want %+v", s, want)
	}
}

// serveTCPUplink serves a TCP uplink listener of layout l into sw, logging
// nowhere, until stop is called or the test ends; Serve must then return
// nil. After stop, every connection's goroutine has ended, so the
// listener's counts are final.
func serveTCPUplink(t *testing.T, sw *apidswitch.Switch, l ccsds.Layout) (ln *Listener, stop func()) {
	t.Helper()
	ln, err := Listen("tcp://127.0.0.1:0", ListenConfig{Layout: l, Ground: sw.GroundAPID, Inject: sw.Inject,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ln.Serve(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(stop)
	return ln, stop
}

// Both downlinks are what the switch and spacenet run take.
var (
	_ GroundDownlink      = (*TCP)(nil)
	_ GroundDownlink      = (*UDP)(nil)
	_ apidswitch.Downlink = (*TCP)(nil)
)

// TestTCPUplinkConnLimit: with MaxTCPGrounds ground connections open, one
// more is closed at once and counted; the others still carry commands.
func TestTCPUplinkConnLimit(t *testing.T) {
	sw := startSwitch(t, nil, ccsds.Plain)
	proc, err := guest.Dial(sw.SocketPath("processor"))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	l, stop := serveTCPUplink(t, sw, ccsds.Plain)
	var conns []net.Conn
	for range MaxTCPGrounds + 1 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	extra := conns[MaxTCPGrounds]
	extra.SetReadDeadline(time.Now().Add(timeout))
	if n, err := extra.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection over the limit: read %d, %v; want it closed", n, err)
	}
	conns[0].Write([]byte{0x10, 0x20, 0xC0, 0x00, 0x00, 0x01, 'o', 'k'})
	var got, want frame.Frame
	proc.SetReadDeadline(time.Now().Add(timeout))
	if err := proc.ReadFrame(&got); err != nil {
		t.Fatal(err)
	}
	frame.Encode(&want, frame.TC, 0x7F0, 0x020, []byte("ok"))
	if got != want {
		t.Fatalf("processor got %x", got[:16])
	}
	// The processor may read the command before its connection's
	// goroutine counts it injected: read the counts once Serve (and every
	// connection's goroutine) has ended.
	stop()
	if s, w := l.Stats(), (ListenerStats{Received: 1, Injected: 1, ConnsRefused: 1}); s != w {
		t.Errorf("stats %+v, want %+v", s, w)
	}
}
