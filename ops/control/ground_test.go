package control_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/apidswitch/switchbench"
	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/uplink"
	"spacenet/ops/control"
)

// TestSnapshotGroundLink: with both ends of a ground link, one frame up
// and one down show in the uplink's, the downlink's, camera's and the
// ground's counters.
func TestSnapshotGroundLink(t *testing.T) {
	ground, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ground.Close()
	up, err := uplink.Dial("udp://" + ground.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	dir := t.TempDir()
	sw, stopSwitch, err := switchbench.Start(context.Background(), apidswitch.Config{SocketDir: dir, Logger: quiet, Downlink: up, Layout: ccsds.Spacenet})
	if err != nil {
		t.Fatal(err)
	}
	stopSwitch = sync.OnceFunc(stopSwitch)
	defer stopSwitch()
	dl, err := uplink.Listen("udp://127.0.0.1:0", uplink.ListenConfig{Layout: ccsds.Spacenet, Ground: sw.GroundAPID, Inject: sw.Inject, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- dl.Serve(ctx) }()
	stopDownlink := sync.OnceFunc(func() { cancel(); <-served })
	defer stopDownlink()

	cam, err := guest.Dial(sw.SocketPath("camera"))
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	cam.SetDeadline(time.Now().Add(10 * time.Second))
	ground.SetDeadline(time.Now().Add(10 * time.Second))
	var f frame.Frame
	frame.Encode(&f, frame.TM, 0x010, 0x000, []byte("up"))
	if err := cam.WriteFrame(&f); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	if _, err := ground.Read(buf); err != nil {
		t.Fatal(err)
	}
	frame.Encode(&f, frame.TC, 0x7F0, 0x010, []byte("down"))
	var pkt [ccsds.MaxPacketSize]byte
	n, _ := ccsds.Wrap(pkt[:], &f, 0)
	c, err := net.Dial("udp", dl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(pkt[:n]); err != nil {
		t.Fatal(err)
	}
	var got frame.Frame
	if err := cam.ReadFrame(&got); err != nil || got != f {
		t.Fatalf("camera got %x, %v", got[:16], err)
	}

	// The downlink counts a frame injected after Inject returns, and the
	// switch counts it delivered after its write returns: either may come
	// just after camera read it. Stopped, both have counted.
	stopDownlink()
	stopSwitch()
	s := (&control.APIDSource{Switch: sw, Downlink: up, Uplink: dl}).Snapshot()
	if s.Downlink == nil || *s.Downlink != (control.Downlink{Sent: 1}) {
		t.Errorf("downlink %+v", s.Downlink)
	}
	if s.Uplink == nil || *s.Uplink != (control.Uplink{Received: 1, Injected: 1}) {
		t.Errorf("uplink %+v", s.Uplink)
	}
	if cam := tenantNamed(t, s, "camera"); cam.Received != 1 || cam.DeliveredGround != 1 || cam.Generation != 1 {
		t.Errorf("camera %+v", cam)
	}
	if g := s.Ground; g.Received != 1 || g.Delivered != 1 || g.Queued != 0 || g.DroppedTotal != 0 {
		t.Errorf("ground %+v", g)
	}
}
