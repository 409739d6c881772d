package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/sysmsg"
)

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
	buildOut  []byte
)

// spacenetBinary builds ./cmd/spacenet once per test binary run.
func spacenetBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "spacenet-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtPath = filepath.Join(dir, "spacenet")
		buildOut, buildErr = exec.Command("go", "build", "-o", builtPath, ".").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return builtPath
}

// switchProc is `spacenet run` as a child process.
type switchProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	dir   string
	lines chan string
	out   bytes.Buffer
	done  chan error
}

func startRun(t *testing.T, tenants int, args ...string) *switchProc {
	t.Helper()
	base, err := os.MkdirTemp("", "snrun")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	dir := filepath.Join(base, "s")
	return spawnRun(t, tenants, dir, nil, append([]string{"--socket-dir", dir}, args...)...)
}

// spawnRun starts `spacenet run args...` with env added to the environment
// and waits for its tenants' sockets in dir.
func spawnRun(t *testing.T, tenants int, dir string, env []string, args ...string) *switchProc {
	t.Helper()
	p := spawnProc(t, append([]string{"run"}, args...), env)
	p.dir = dir
	for range tenants {
		p.waitLog("tenant socket")
	}
	return p
}

// spawnProc starts the binary with args and env added to the environment,
// its standard error read line by line for waitLog.
func spawnProc(t *testing.T, args, env []string) *switchProc {
	t.Helper()
	return spawnCmd(t, exec.Command(spacenetBinary(t), args...), env)
}

// spawnCmd is spawnProc for a command line of the caller's (spacenet under
// ip netns exec, say).
func spawnCmd(t *testing.T, cmd *exec.Cmd, env []string) *switchProc {
	t.Helper()
	p := &switchProc{t: t, lines: make(chan string, 1024), done: make(chan error, 1)}
	p.cmd = cmd
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = &p.out
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			for range p.lines {
			}
			<-p.done
		}
	})
	return p
}

// waitLog reads the switch's log until a line containing all of subs.
func (p *switchProc) waitLog(subs ...string) string {
	p.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("switch exited before logging %q", subs)
			}
			match := true
			for _, s := range subs {
				match = match && strings.Contains(l, s)
			}
			if match {
				return l
			}
		case <-timeout:
			p.t.Fatalf("no log line with %q", subs)
		}
	}
}

// waitLogs waits until each of subs has been on a line, in any order.
func (p *switchProc) waitLogs(subs ...string) {
	p.t.Helper()
	left := append([]string(nil), subs...)
	timeout := time.After(20 * time.Second)
	for len(left) > 0 {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("switch exited before logging %q", left)
			}
			left = slices.DeleteFunc(left, func(s string) bool { return strings.Contains(l, s) })
		case <-timeout:
			p.t.Fatalf("no log line with %q", left)
		}
	}
}

// stop sends sig, waits for the exit and returns stdout.
func (p *switchProc) stop(sig os.Signal) string {
	p.t.Helper()
	p.cmd.Process.Signal(sig)
	for range p.lines {
	}
	if err := <-p.done; err != nil {
		p.t.Fatalf("switch exit: %v", err)
	}
	return p.out.String()
}

// connect connects to tenant's socket as its guest, closed at the end of
// the test, and waits until the switch has logged the connection.
func (p *switchProc) connect(tenant string) *guest.Conn {
	p.t.Helper()
	g, err := guest.Dial(p.sock(tenant))
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { g.Close() })
	p.waitLog("tenant connected", "tenant="+tenant)
	return g
}

// askHealth sends a HEALTH request from apid through g and returns the
// switch's answer, the first frame g reads.
func askHealth(t *testing.T, g *guest.Conn, apid frame.APID) sysmsg.Health {
	t.Helper()
	var req, got frame.Frame
	frame.Encode(&req, frame.Health, apid, sysmsg.APIDHealth, nil)
	if err := g.WriteFrame(&req); err != nil {
		t.Fatal(err)
	}
	g.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := g.ReadFrame(&got); err != nil {
		t.Fatalf("HEALTH request: %v", err)
	}
	if got.Type() != frame.Health || got.APID() != sysmsg.APIDHealth {
		t.Fatalf("got %x, want a HEALTH reply", got[:16])
	}
	h, err := sysmsg.ParseHealth(got.Payload())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (p *switchProc) sock(name string) string { return filepath.Join(p.dir, name+".sock") }

func inject(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return spacenet(t, nil, append([]string{"inject"}, args...)...)
}

// spacenet runs the binary with args and env added to the environment, and
// returns its combined output and exit status.
func spacenet(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	// The timeout is a safety net for a command that should exit at once
	// but serves instead (a switch that starts where it should refuse).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, spacenetBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestBinaryRunInject(t *testing.T) {
	p := startRun(t, 3)
	proc, err := guest.Dial(p.sock("processor"))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	p.waitLog("tenant connected", "tenant=processor")

	out, code := inject(t, "--type", "TM", "--apid", "0x010", "--dest", "0x020", "--payload", "hello", "--socket", p.sock("camera"))
	if code != 0 || out != "handed to the switch: TM from 0x010 to 0x020, 5 payload bytes (not waiting: the switch may still refuse it; --wait 200ms prints its ERROR)\n" {
		t.Fatalf("inject: %d %s", code, out)
	}
	var want frame.Frame
	frame.Encode(&want, frame.TM, 0x010, 0x020, []byte("hello"))
	proc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got frame.Frame
	if err := proc.ReadFrame(&got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("processor got %x", got[:16])
	}

	// A spoofed source is refused and the ERROR printed; exit status 4
	// (exitRefused), the code named in the last line.
	out, code = inject(t, "--type", "TM", "--apid", "0x020", "--dest", "0x100", "--payload", "x", "--socket", p.sock("camera"), "--wait", "2s")
	if code != exitRefused || !strings.Contains(out, "ERROR Apid_not_allocated (0x04) from 0x000: offending type TM, apid 0x020, payload_length 1\n") ||
		!strings.HasSuffix(out, "\nspacenet: the switch refused the frame: Apid_not_allocated (0x04)\n") {
		t.Fatalf("spoofed inject: %d %s", code, out)
	}
	// Every refusal, from spaceos, over the built binary's socket.
	spos, err := guest.Dial(p.sock("spaceos"))
	if err != nil {
		t.Fatal(err)
	}
	defer spos.Close()
	var valid frame.Frame
	frame.Encode(&valid, frame.TM, 0x100, 0x010, []byte("x"))
	refusals := []struct {
		edit func(f *frame.Frame)
		code frame.ErrorCode
	}{
		{func(f *frame.Frame) { f.SetAPID(0x011) }, frame.APIDNotAllocated},
		{func(f *frame.Frame) { f.SetType(0x0B) }, frame.UnknownType},
		{func(f *frame.Frame) { f.SetVersion(0) }, frame.UnknownVersion},
		{func(f *frame.Frame) { f.SetPayloadLen(300) }, frame.MessageTooLarge},
		{func(f *frame.Frame) { f.SetDest(0x1010) }, frame.Malformed},
		{func(f *frame.Frame) { f.SetDest(0x000) }, frame.NoRoute},
	}
	spos.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, r := range refusals {
		f := valid
		r.edit(&f)
		spos.WriteFrame(&f)
		var e, want frame.Frame
		if err := spos.ReadFrame(&e); err != nil {
			t.Fatal(err)
		}
		frame.EncodeError(&want, r.code, &f)
		if e != want {
			t.Errorf("%v: got %x, want %x", r.code, e[:16], want[:16])
		}
	}
	// A partial frame at the end of the stream: Malformed.
	spos.Write(valid[:77])
	spos.CloseWrite()
	var e, wantE, partial frame.Frame
	copy(partial[:], valid[:77])
	frame.EncodeError(&wantE, frame.Malformed, &partial)
	if err := spos.ReadFrame(&e); err != nil || e != wantE {
		t.Errorf("partial frame: %v %x", err, e[:16])
	}
	p.waitLog("tenant disconnected", "tenant=spaceos")

	stdout := p.stop(syscall.SIGINT)
	for _, w := range []string{
		"TENANT", "camera", "Apid_not_allocated=1",
		"Unknown_type=1,Unknown_version=1,Message_too_large=1,Apid_not_allocated=1,Malformed=2,No_route=1",
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("counters output lacks %q:\n%s", w, stdout)
		}
	}
	// camera: 2 received, 1 delivered, none held, 1 dropped.
	for _, l := range strings.Split(stdout, "\n") {
		if f := strings.Fields(l); len(f) > 9 && f[0] == "camera" {
			if f[1] != "2" || f[3] != "2" || f[4] != "1" || f[8] != "0" || f[9] != "1" {
				t.Errorf("camera line %q", l)
			}
		}
	}
	if ents, err := os.ReadDir(p.dir); err != nil || len(ents) != 0 {
		t.Errorf("socket dir after stop: %v %v", ents, err)
	}
}

const twoTenants = `[[tenant]]
name = "camera"
owns = ["0x010-0x01F"]
can_send_to = ["processor"]

[[tenant]]
name = "processor"
owns = ["0x020-0x02F"]
can_send_to = ["camera"]
`

const threeTenants = twoTenants + `
[[tenant]]
name = "logger"
owns = ["0x300-0x30F"]
can_send_to = []
`

func TestBinarySIGHUP(t *testing.T) {
	cfgDir := t.TempDir()
	cfg := filepath.Join(cfgDir, "policy.toml")
	os.WriteFile(cfg, []byte(twoTenants), 0o600)
	p := startRun(t, 2, "--config", cfg, "--log-format", "json")
	_ = p
	cam, err := guest.Dial(p.sock("camera"))
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	p.waitLog(`"tenant connected"`, `"tenant":"camera"`)

	// A bad file is refused; the old policy stays.
	os.WriteFile(cfg, []byte("[[tenant]]\nname = \"BAD\"\nowns = [\"0x001\"]\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog("policy reload refused")
	if _, err := os.Stat(p.sock("processor")); err != nil {
		t.Errorf("processor socket gone after a refused reload: %v", err)
	}
	// A good file: logger appears, the camera connection stays.
	os.WriteFile(cfg, []byte(threeTenants), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(`"policy reloaded"`, `"tenants":3`, cfg)
	lg, err := guest.Dial(p.sock("logger"))
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	p.waitLog(`"tenant connected"`, `"tenant":"logger"`)
	// camera may not send to logger: Not_permitted on the old connection.
	var f frame.Frame
	frame.Encode(&f, frame.TM, 0x010, 0x300, []byte("x"))
	cam.WriteFrame(&f)
	cam.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got frame.Frame
	if err := cam.ReadFrame(&got); err != nil {
		t.Fatal(err)
	}
	if e, _ := frame.ParseErrorPayload(got.Payload()); got.Type() != frame.Error || e.Code != frame.NotPermitted {
		t.Errorf("got %x, want Not_permitted", got[:16])
	}
	stdout := p.stop(syscall.SIGTERM) // one JSON record (--log-format json)
	if !strings.Contains(stdout, `"name":"logger"`) || !strings.Contains(stdout, `"Not_permitted":1`) {
		t.Errorf("counters:\n%s", stdout)
	}
}

// TestBinaryGroundLink: the built binary with --downlink and
// --uplink-listen over real UDP sockets, in each --layout: telemetry leaves
// byte-exact (cfs: with a time within the test's span), a command built by
// hand and one sent by `spacenet inject --uplink` reach camera, and the
// counters say so.
func TestBinaryGroundLink(t *testing.T) {
	tests := []struct {
		layout string
		down   string // the telemetry packet, hex; cfs: the time octets are checked apart
		up     string // a command to 0x011 worked by hand
		inject []string
		want   string // camera's frame's payload
	}{
		{"plain", "0012C0000012" + hex.EncodeToString([]byte("telemetry to ground")),
			"1011C0000006" + hex.EncodeToString([]byte("command")),
			[]string{"--payload", "command"}, "command"},
		// The function code 0x05 and the checksum: 0xFF^18^11^C0^00^00^02^05^63 ("c") = 0x52.
		{"cfs", "0812C000001C" + "TTTTTTTTTTTT" + "00000000" + hex.EncodeToString([]byte("telemetry to ground")),
			"1811C0000002" + "05" + "52" + "63",
			[]string{"--payload-hex", "0563"}, "\x05c"},
		{"spacenet", "0012C000001A" + "010000120013" + "0000" + hex.EncodeToString([]byte("telemetry to ground")),
			"17F0C000000E" + "010107F000070011" + hex.EncodeToString([]byte("command")),
			[]string{"--payload", "command"}, "command"},
	}
	for _, tc := range tests {
		t.Run(tc.layout, func(t *testing.T) {
			ground, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer ground.Close()
			// A free port for the uplink: bind, note, release.
			probe, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			upAddr := probe.LocalAddr().String()
			probe.Close()
			p := startRun(t, 3, "--downlink", "udp://"+ground.LocalAddr().String(), "--uplink-listen", "udp://"+upAddr, "--layout", tc.layout)

			before := ccsds.CFSTimeOf(time.Now())
			cam := cameraSends(t, p, "telemetry to ground")
			buf := make([]byte, 1024)
			ground.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := ground.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			after := ccsds.CFSTimeOf(time.Now())
			got := hex.EncodeToString(buf[:n])
			if i := strings.Index(tc.down, "T"); i >= 0 && len(got) == len(tc.down) {
				sec := binary.BigEndian.Uint32(buf[ccsds.CFSTimeSecondsOff:])
				if sec < before.Seconds || sec > after.Seconds {
					t.Errorf("cfs time %d s, want %d..%d", sec, before.Seconds, after.Seconds)
				}
				got = got[:i] + strings.Repeat("t", 12) + got[i+12:]
			}
			if got != strings.ToLower(tc.down) {
				t.Fatalf("telemetry %s\nwant      %s", got, strings.ToLower(tc.down))
			}

			up, err := hex.DecodeString(tc.up)
			if err != nil {
				t.Fatal(err)
			}
			c, err := net.Dial("udp", upAddr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(up)
			cam.SetReadDeadline(time.Now().Add(10 * time.Second))
			var cmd frame.Frame
			if err := cam.ReadFrame(&cmd); err != nil {
				t.Fatal(err)
			}
			var want frame.Frame
			frame.Encode(&want, frame.TC, 0x7F0, 0x011, []byte(tc.want))
			if cmd != want {
				t.Fatalf("camera got %x, want %x", cmd[:16], want[:16])
			}
			// The same through `spacenet inject --uplink`.
			args := append([]string{"--type", "TC", "--apid", "0x7F0", "--dest", "0x011", "--uplink", "udp://" + upAddr, "--layout", tc.layout}, tc.inject...)
			out, code := inject(t, args...)
			if code != 0 {
				t.Fatalf("inject --uplink: %d %s", code, out)
			}
			if err := cam.ReadFrame(&cmd); err != nil || cmd != want {
				t.Fatalf("camera got %x: %v", cmd[:16], err)
			}
			stdout := p.stop(syscall.SIGINT)
			if !strings.Contains(stdout, "uplink: received=2 injected=2 idle=0 refused=0 bad_checksum=0 undeliverable=0") ||
				!strings.Contains(stdout, "downlink: sent=1 refused_by_ground=0") {
				t.Errorf("counters:\n%s", stdout)
			}
		})
	}
}

// TestBinaryGroundTCP: the built binary with TCP ground links both ways:
// telemetry arrives at a TCP ground, a command over a TCP connection (hand
// bytes) reaches camera, and the counters say so.
func TestBinaryGroundTCP(t *testing.T) {
	ground, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ground.Close()
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	upAddr := probe.Addr().String()
	probe.Close()
	p := startRun(t, 3, "--downlink", "tcp://"+ground.Addr().String(), "--uplink-listen", "tcp://"+upAddr)
	g, err := ground.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	cam := cameraSends(t, p, "tm")
	g.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 8)
	if _, err := io.ReadFull(g, buf); err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(buf), "0012c0000001"+hex.EncodeToString([]byte("tm")); got != want {
		t.Fatalf("telemetry %s, want %s", got, want)
	}
	c, err := net.Dial("tcp", upAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0x10, 0x11, 0xC0, 0x00, 0x00, 0x01, 'g', 'o'})
	cam.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got, want frame.Frame
	if err := cam.ReadFrame(&got); err != nil {
		t.Fatal(err)
	}
	frame.Encode(&want, frame.TC, 0x7F0, 0x011, []byte("go"))
	if got != want {
		t.Fatalf("camera got %x", got[:16])
	}
	stdout := p.stop(syscall.SIGINT)
	if !strings.Contains(stdout, "downlink: sent=1 queued=0 queue_full=0 reconnects=0 send_failures=0") ||
		!strings.Contains(stdout, "uplink: received=1 injected=1") {
		t.Errorf("counters:\n%s", stdout)
	}
}

// cameraSends connects to p as camera and sends payload to the ground from
// APID 0x012; camera is closed when the test ends.
func cameraSends(t *testing.T, p *switchProc, payload string) *guest.Conn {
	t.Helper()
	cam, err := guest.Dial(p.sock("camera"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	p.waitLog("tenant connected", "tenant=camera")
	var tm frame.Frame
	frame.Encode(&tm, frame.TM, 0x012, 0x000, []byte(payload))
	if err := cam.WriteFrame(&tm); err != nil {
		t.Fatal(err)
	}
	return cam
}

// TestBinaryRunRefusesUnsafeDir: `spacenet run` on a socket directory that
// others may write to, or that is a symbolic link, exits with status 1 and
// says how to fix it, without making a socket there.
func TestBinaryRunRefusesUnsafeDir(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(open, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ dir, want string }{
		{open, "spacenet: apidswitch: socket directory " + open + " has mode 0777: group or others could replace the sockets; fix it: chmod go-w " + open + "\n"},
		{link, "spacenet: apidswitch: socket directory " + link + " is a symbolic link (to " + open + "), refused: whoever can change the link can redirect the sockets; give the directory itself (--socket-dir " + open + ")\n"},
	}
	for _, tc := range tests {
		out, code := spacenet(t, nil, "run", "--socket-dir", tc.dir, "--log-level", "error")
		if code != 1 || out != tc.want {
			t.Errorf("run --socket-dir %s: status %d, output:\n%s\nwant status 1, output:\n%s", tc.dir, code, out, tc.want)
		}
	}
	if ents, err := os.ReadDir(open); err != nil || len(ents) != 0 {
		t.Errorf("made in the refused directory: %v %v", ents, err)
	}
}

// TestBinarySecondRunKeepsGuest: a second `spacenet run` on the directory
// of a running one exits at once naming the first one's pid, and the
// first one's guest keeps its connection (generation 1). Before, the second
// one's liveness check connected to camera.sock, which replaced the guest's
// connection (generation 2) and gave the guest EOF.
func TestBinarySecondRunKeepsGuest(t *testing.T) {
	p := startRun(t, 3)
	cam := p.connect("camera")

	out, code := spacenet(t, nil, "run", "--socket-dir", p.dir)
	want := fmt.Sprintf("spacenet: apidswitch: socket directory %s is in use by another switch (pid %d holds %s/.lock)\n", p.dir, p.cmd.Process.Pid, p.dir)
	if code != 1 || out != want {
		t.Errorf("second run: status %d, output:\n%s\nwant status 1, output:\n%s", code, out, want)
	}
	// The guest's connection still works: a HEALTH request is answered.
	askHealth(t, cam, 0x010)
	stdout := p.stop(syscall.SIGINT)
	for _, l := range strings.Split(stdout, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "camera" && (f[1] != "1" || f[2] != "false") {
			t.Errorf("camera line %q: want generation 1 (disconnected at stop)", l)
		}
	}
	if !strings.Contains(stdout, "camera") {
		t.Errorf("counters:\n%s", stdout)
	}
}

// TestBinaryDefaultSocketDir: without --socket-dir, run and inject --tenant
// agree on the default directory (here $XDG_RUNTIME_DIR/spacenet), which
// run creates 0700.
func TestBinaryDefaultSocketDir(t *testing.T) {
	xdg := t.TempDir()
	env := []string{"XDG_RUNTIME_DIR=" + xdg}
	dir := filepath.Join(xdg, "spacenet")
	p := spawnRun(t, 3, dir, env)
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("default socket directory %s: %v %v", dir, fi, err)
	}
	proc, err := guest.Dial(p.sock("processor"))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	p.waitLog("tenant connected", "tenant=processor")
	out, code := spacenet(t, env, "inject", "--type", "TM", "--apid", "0x010", "--dest", "0x020", "--payload", "hi", "--tenant", "camera")
	if code != 0 || out != "handed to the switch: TM from 0x010 to 0x020, 2 payload bytes (not waiting: the switch may still refuse it; --wait 200ms prints its ERROR)\n" {
		t.Fatalf("inject --tenant camera: status %d, output %q", code, out)
	}
	var want, got frame.Frame
	frame.Encode(&want, frame.TM, 0x010, 0x020, []byte("hi"))
	proc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := proc.ReadFrame(&got); err != nil || got != want {
		t.Fatalf("processor got %x: %v", got[:16], err)
	}
	p.stop(syscall.SIGTERM)
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("left in %s after stop: %v %v", dir, ents, err)
	}
}
