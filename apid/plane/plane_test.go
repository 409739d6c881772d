package plane_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/apid/apidswitch"
	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/plane"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// TestPlaneGroundLinks runs the v0 switch with both ground links over real
// UDP sockets, layout spacenet: a frame camera sends to the ground leaves
// as one packet, byte for byte; a command from the ground reaches
// processor, byte for byte; Report counts both; Run returns nil once its
// context ends.
func TestPlaneGroundLinks(t *testing.T) {
	ground, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ground.Close()
	p, err := plane.Open(plane.Config{
		Switch:       apidswitch.Config{SocketDir: filepath.Join(t.TempDir(), "s"), Logger: quiet, Layout: ccsds.Spacenet},
		Downlink:     "udp://" + ground.LocalAddr().String(),
		UplinkListen: "udp://127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-p.Ready()

	cam, err := guest.Dial(p.Switch.SocketPath("camera"))
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	proc, err := guest.Dial(p.Switch.SocketPath("processor"))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()

	var down frame.Frame
	frame.Encode(&down, frame.TM, 0x010, 0x000, []byte("to ground"))
	if err := cam.WriteFrame(&down); err != nil {
		t.Fatal(err)
	}
	ground.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1024)
	n, err := ground.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var got frame.Frame
	if _, err := ccsds.Unwrap(&got, buf[:n]); err != nil || got != down {
		t.Fatalf("ground got %x (%v), want the frame %x", buf[:n], err, down[:17])
	}

	var cmd frame.Frame
	frame.Encode(&cmd, frame.TC, 0x7F0, 0x020, []byte("from ground"))
	pkt := make([]byte, ccsds.WrappedLen(&cmd))
	if _, err := ccsds.Wrap(pkt, &cmd, 0); err != nil {
		t.Fatal(err)
	}
	up, err := net.DialUDP("udp", nil, p.Uplink.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if _, err := up.Write(pkt); err != nil {
		t.Fatal(err)
	}
	proc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := proc.ReadFrame(&got); err != nil || got != cmd {
		t.Fatalf("processor got %x (%v), want the command %x", got[:19], err, cmd[:19])
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	var out bytes.Buffer
	p.Report(&out)
	for _, want := range []string{"downlink: ", "uplink: received=1 injected=1 idle=0 refused=0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) > 6 && f[0] == "camera" && (f[3] != "1" || f[6] != "1") {
			t.Errorf("camera: want 1 received, 1 to the ground: %q", l)
		}
	}
}

// TestPlaneCloseWithoutRun: a plane opened and closed without running
// leaves its uplink's port free (and goleak finds nothing left).
func TestPlaneCloseWithoutRun(t *testing.T) {
	p, err := plane.Open(plane.Config{
		Switch:       apidswitch.Config{SocketDir: filepath.Join(t.TempDir(), "s"), Logger: quiet},
		UplinkListen: "udp://127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := p.Uplink.Addr().(*net.UDPAddr)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", addr)
	if err != nil {
		t.Fatalf("uplink port still taken after Close: %v", err)
	}
	c.Close()
}

// TestPlaneOpenFails: a bad uplink address fails Open, leaving nothing
// open.
func TestPlaneOpenFails(t *testing.T) {
	ground, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ground.Close()
	_, err = plane.Open(plane.Config{
		Switch:       apidswitch.Config{SocketDir: filepath.Join(t.TempDir(), "s"), Logger: quiet},
		Downlink:     "udp://" + ground.LocalAddr().String(),
		UplinkListen: "udp://" + ground.LocalAddr().String(), // taken
	})
	if err == nil || !strings.Contains(err.Error(), "uplink: listen") {
		t.Fatalf("Open: %v, want the uplink's listen error", err)
	}
}
