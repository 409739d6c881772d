package uplink

import (
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/policy"
)

// TestListenerLayouts: commands built by hand (not by package ccsds) reach
// processor (0x020) as TC frames from the ground's APID 0x7F0 in the plain
// and cfs layouts; a cFS command with a wrong checksum, a plain packet with
// a secondary header and a TM packet are refused and counted, each
// datagram once.
func TestListenerLayouts(t *testing.T) {
	tests := []struct {
		layout ccsds.Layout
		pkts   []string // sent in order; the last one is delivered
		want   string   // the frame processor gets: payload
		stats  ListenerStats
	}{
		{ccsds.Plain, []string{
			"0020 C000 0003 | 6F6F7073",       // TM: refused
			"1820 C000 0003 | 0300 6869",      // a secondary header: refused
			"1020 C000 0000 | 00 00",          // length disagrees: refused
			"1020 C001 0006 | 636F6D6D616E64", // "command"
		}, "command", ListenerStats{Received: 4, Injected: 1, Refused: 3}},
		// The checksum: 0xFF^18^20^C0^05^00^03^07^61^62 = 0x05; the first
		// packet carries 0x06; the second has no secondary header.
		{ccsds.CFS, []string{
			"1820 C005 0003 | 07 06 | 6162",
			"1020 C005 0001 | 07 00",
			"1820 C005 0003 | 07 05 | 6162",
		}, "\x07ab", ListenerStats{Received: 3, Injected: 1, Refused: 2, Checksum: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.layout.String(), func(t *testing.T) {
			e := startGround(t, tc.layout, slog.New(slog.NewTextHandler(io.Discard, nil)))
			for _, p := range tc.pkts {
				if _, err := e.ground.Write(unhexT(t, p)); err != nil {
					t.Fatal(err)
				}
			}
			var got, want frame.Frame
			e.proc.SetReadDeadline(time.Now().Add(timeout))
			if err := e.proc.ReadFrame(&got); err != nil {
				t.Fatal(err)
			}
			frame.Encode(&want, frame.TC, 0x7F0, 0x020, []byte(tc.want))
			if got != want {
				t.Fatalf("processor got %x, want %x", got[:16], want[:16])
			}
			e.stop()
			if s := e.dl.Stats(); s != tc.stats {
				t.Errorf("stats %+v, want %+v", s, tc.stats)
			}
			if g := e.sw.Ground(); g.Received != 1 || g.Delivered+g.Queued != 1 {
				t.Errorf("ground %+v", g)
			}
		})
	}
}

// TestListenerPython: a plain TC written by a few lines of Python (struct,
// socket: nothing of spacenet's) reaches processor.
func TestListenerPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 missing")
	}
	e := startGround(t, ccsds.Plain, slog.New(slog.NewTextHandler(io.Discard, nil)))
	script := `import socket, struct, sys
data = b"reboot camera"
pkt = struct.pack(">HHH", 0x1000 | 0x020, 0xC000 | 5, len(data) - 1) + data
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(pkt, ("127.0.0.1", int(sys.argv[1])))
`
	if out, err := exec.Command(py, "-c", script, strconv.Itoa(e.dl.Addr().(*net.UDPAddr).Port)).CombinedOutput(); err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	var got, want frame.Frame
	e.proc.SetReadDeadline(time.Now().Add(timeout))
	if err := e.proc.ReadFrame(&got); err != nil {
		t.Fatal(err)
	}
	frame.Encode(&want, frame.TC, 0x7F0, 0x020, []byte("reboot camera"))
	if got != want {
		t.Fatalf("processor got %x, want %x", got[:24], want[:24])
	}
	e.stop()
	if s, w := e.dl.Stats(), (ListenerStats{Received: 1, Injected: 1}); s != w {
		t.Errorf("stats %+v, want %+v", s, w)
	}
}

// TestListenerGroundAPIDs: with the ground's APIDs moved by the policy
// ([ground] owns = ["0x7A0-0x7A1"]), a plain TC from the ground reaches
// processor through the UDP listener from the ground's first APID, 0x7A0,
// not the default 0x7F0.
func TestListenerGroundAPIDs(t *testing.T) {
	p, err := policy.Parse("ground.toml", []byte(`[[tenant]]
name = "processor"
owns = ["0x020-0x02F"]

[ground]
owns = ["0x7A0-0x7A1"]
`))
	if err != nil {
		t.Fatal(err)
	}
	sw := startSwitchCfg(t, apidswitch.Config{Policy: p, Layout: ccsds.Plain})
	if g := sw.GroundAPID(); g != 0x7A0 {
		t.Fatalf("GroundAPID %v, want 0x7A0", g)
	}
	e := startGroundOn(t, sw, ccsds.Plain, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := e.ground.Write(unhexT(t, "1021 C000 0004 | 6172 6D65 64")); err != nil { // TC to 0x021: "armed"
		t.Fatal(err)
	}
	var got, want frame.Frame
	e.proc.SetReadDeadline(time.Now().Add(timeout))
	if err := e.proc.ReadFrame(&got); err != nil {
		t.Fatal(err)
	}
	frame.Encode(&want, frame.TC, 0x7A0, 0x021, []byte("armed"))
	if got != want {
		t.Fatalf("processor got %x, want %x", got[:16], want[:16])
	}
	e.stop()
	if s, w := e.dl.Stats(), (ListenerStats{Received: 1, Injected: 1}); s != w {
		t.Errorf("stats %+v, want %+v", s, w)
	}
	if g := e.sw.Ground(); g.Received != 1 || g.Delivered+g.Queued != 1 || !g.Balanced() {
		t.Errorf("ground %+v", g)
	}
}
