package main

import (
	"encoding/binary"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spacenet/ops/control"
)

// ethFrame is a 60-byte broadcast frame from src in QEMU's stream framing
// (a 4-byte big-endian length first).
func ethFrame(src byte) []byte {
	b := make([]byte, 4+60)
	binary.BigEndian.PutUint32(b, 60)
	copy(b[4:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, src, 0x88, 0xb5})
	return b
}

// TestBinaryLANStatus: camera's guest sends three frames from its MAC and
// one from another (sticky port: spoofed_mac); lan status --json shows the
// exact counts, the port's locks and the MAC table, and the table view
// shows the entry as bridge fdb does; --metrics-listen has the same counts,
// and so has its status page in headless Chromium (when installed).
func TestBinaryLANStatus(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lan")
	p := spawnLAN(t, "--socket-dir", dir, "--metrics-listen", "127.0.0.1:0")
	_, metricsAddr, _ := strings.Cut(p.waitLog("metrics listening"), "addr=")
	p.waitLog("lan: running")
	c, err := net.Dial("unix", filepath.Join(dir, "camera.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, src := range []byte{1, 1, 1, 9} {
		if _, err := c.Write(ethFrame(src)); err != nil {
			t.Fatal(err)
		}
	}
	// The LAN says nothing when it reads a frame: ask until it has read
	// all four (the MAC is learnt after the batch it came in).
	var s control.LAN
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		out, code := spacenet(t, nil, "lan", "status", "--socket-dir", dir, "--json")
		if code != 0 {
			t.Fatalf("lan status --json: exit %d\n%s", code, out)
		}
		s = control.LAN{}
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if len(s.Ports) == 3 && s.Ports[0].RxFrames == 4 && len(s.MACs) == 1 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("the LAN did not count 4 frames from camera:\n%s", out)
		case <-tick.C:
		}
	}
	cam := s.Ports[0]
	if cam.Name != "camera" || cam.Tenant != "camera" || !cam.Sticky || cam.RxBytes != 240 || cam.RxDrops["spoofed_mac"] != 1 {
		t.Errorf("camera port %+v", cam)
	}
	for r, n := range cam.RxDrops {
		if n != 0 && r != "spoofed_mac" {
			t.Errorf("camera: rx drop %s %d", r, n)
		}
	}
	if e := s.MACs[0]; e.MAC != "02:00:00:00:00:01" || e.Port != "camera" || !e.Locked {
		t.Errorf("fdb %+v", s.MACs)
	}
	if s.Plane != "lan" || s.TableMACs != 1 || s.Ports[1].Name != "processor" || s.Ports[2].Name != "spaceos" {
		t.Errorf("snapshot %+v", s)
	}
	out, code := spacenet(t, nil, "lan", "status", "--socket-dir", dir, "--interval", "20ms")
	if code != 0 || !strings.Contains(out, "\n02:00:00:00:00:01 dev camera master lan permanent\n") {
		t.Errorf("lan status: exit %d\n%s", code, out)
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || strings.Join(strings.Fields(lines[2]), " ") != "camera camera qemu-stream:"+filepath.Join(dir, "camera.sock")+" sticky 0 0 4 240 0 0 0 0 rx:spoofed_mac=1" {
		t.Errorf("camera's line: %q", lines[2])
	}
	metrics := string(httpGet(t, "http://"+strings.TrimSpace(metricsAddr)+"/metrics"))
	for _, want := range []string{
		`spacenet_lan_frames_total{direction="in",port="camera",tenant="camera"} 4`,
		`spacenet_lan_bytes_total{direction="in",port="camera",tenant="camera"} 240`,
		`spacenet_lan_dropped_total{direction="in",port="camera",reason="spoofed_mac",tenant="camera"} 1`,
		`spacenet_lan_mac_table_entries 1`,
	} {
		if !strings.Contains(metrics, "\n"+want+"\n") {
			t.Errorf("lan run --metrics-listen: no %q in\n%s", want, metrics)
		}
	}
	if _, err := exec.LookPath("chromium"); err == nil {
		// The status page as its script redraws it (rx/s is "-" as served).
		dom := string(chromium(t, "http://"+strings.TrimSpace(metricsAddr)+"/", "--virtual-time-budget=2500", "--dump-dom"))
		wantRow := `<tr id="port-camera"><td>camera</td><td class="text">camera</td><td class="text">qemu-stream:` + filepath.Join(dir, "camera.sock") +
			`</td><td class="text">sticky</td><td>0</td><td>0</td><td>4</td><td>240</td><td>0</td><td>0</td><td>0</td><td>0</td><td class="text">rx:spoofed_mac=1</td></tr>`
		wantFDB := `<tr><td>02:00:00:00:00:01</td><td class="text">camera</td><td class="text">permanent</td></tr>`
		if !strings.Contains(dom, wantRow) || !strings.Contains(dom, wantFDB) || !strings.Contains(dom, `<p id="refresh">refreshed `) {
			t.Errorf("LAN status page: want\n%s\n%s\nin\n%s", wantRow, wantFDB, dom)
		}
	}
	out, code = spacenet(t, nil, "status", "--socket-dir", dir)
	if code != 1 || !strings.Contains(out, "use spacenet lan status") {
		t.Errorf("status on a LAN's socket: exit %d\n%s", code, out)
	}
}
