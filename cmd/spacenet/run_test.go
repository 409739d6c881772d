package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"spacenet/apidswitch"
	"spacenet/ccsds"
	"spacenet/frame"
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
	p := &switchProc{t: t, dir: dir, lines: make(chan string, 1024), done: make(chan error, 1)}
	p.cmd = exec.Command(spacenetBinary(t), append([]string{"run"}, args...)...)
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
	for range tenants {
		p.waitLog("tenant socket")
	}
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
	proc, err := apidswitch.Dial(p.sock("processor"))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	p.waitLog("tenant connected", "tenant=processor")

	out, code := inject(t, "--type", "TM", "--apid", "0x010", "--dest", "0x020", "--payload", "hello", "--socket", p.sock("camera"))
	if code != 0 || !strings.Contains(out, "sent TM from 0x010 to 0x020, 5 payload bytes") {
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

	// A spoofed source is refused and the ERROR printed; exit status 1.
	out, code = inject(t, "--type", "TM", "--apid", "0x020", "--dest", "0x100", "--payload", "x", "--socket", p.sock("camera"), "--wait", "2s")
	if code != 1 || !strings.Contains(out, "ERROR Apid_not_allocated (0x04) from 0x000: offending type TM, apid 0x020, payload_length 1") {
		t.Fatalf("spoofed inject: %d %s", code, out)
	}
	// Every refusal, from spaceos, over the built binary's socket.
	spos, err := apidswitch.Dial(p.sock("spaceos"))
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
	// camera: 2 received, 1 delivered, 0 held, 1 dropped.
	for _, l := range strings.Split(stdout, "\n") {
		if f := strings.Fields(l); len(f) > 8 && f[0] == "camera" {
			if f[1] != "2" || f[3] != "2" || f[4] != "1" || f[9] != "1" { // f[8] is HELD
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
	cam, err := apidswitch.Dial(p.sock("camera"))
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
	lg, err := apidswitch.Dial(p.sock("logger"))
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
	stdout := p.stop(syscall.SIGTERM)
	if !strings.Contains(stdout, "logger") || !strings.Contains(stdout, "Not_permitted=1") {
		t.Errorf("counters:\n%s", stdout)
	}
}

// TestBinaryUplinkDownlink: the built binary with --uplink and
// --downlink-listen over real UDP sockets.
func TestBinaryUplinkDownlink(t *testing.T) {
	ground, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ground.Close()
	// A free port for the downlink: bind, note, release.
	probe, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	dlAddr := probe.LocalAddr().String()
	probe.Close()
	p := startRun(t, 3, "--uplink", "udp://"+ground.LocalAddr().String(), "--downlink-listen", "udp://"+dlAddr)

	cam, err := apidswitch.Dial(p.sock("camera"))
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	p.waitLog("tenant connected", "tenant=camera")
	var up frame.Frame
	frame.Encode(&up, frame.TM, 0x012, 0x000, []byte("telemetry to ground"))
	cam.WriteFrame(&up)
	buf := make([]byte, 1024)
	ground.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := ground.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var back frame.Frame
	if _, err := ccsds.Unwrap(&back, buf[:n]); err != nil || back != up {
		t.Fatalf("uplinked packet %x: %v", buf[:n], err)
	}

	var down frame.Frame
	frame.Encode(&down, frame.TC, 0x7F0, 0x011, []byte("command"))
	var pkt [ccsds.MaxPacketSize]byte
	m, _ := ccsds.Wrap(pkt[:], &down, 0)
	c, err := net.Dial("udp", dlAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(pkt[:m])
	cam.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got frame.Frame
	if err := cam.ReadFrame(&got); err != nil {
		t.Fatal(err)
	}
	if got != down {
		t.Fatalf("camera got %x", got[:16])
	}
	// The same through `spacenet inject --downlink`.
	out, code := inject(t, "--type", "TC", "--apid", "0x7F0", "--dest", "0x011", "--payload", "command", "--downlink", "udp://"+dlAddr)
	if code != 0 {
		t.Fatalf("inject --downlink: %d %s", code, out)
	}
	if err := cam.ReadFrame(&got); err != nil || got != down {
		t.Fatalf("camera got %x: %v", got[:16], err)
	}
	stdout := p.stop(syscall.SIGINT)
	if !strings.Contains(stdout, "downlink: received=2 injected=2") {
		t.Errorf("counters:\n%s", stdout)
	}
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
	cam, err := apidswitch.Dial(p.sock("camera"))
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	p.waitLog("tenant connected", "tenant=camera")

	out, code := spacenet(t, nil, "run", "--socket-dir", p.dir)
	want := fmt.Sprintf("spacenet: apidswitch: socket directory %s is in use by another switch (pid %d holds %s/.lock)\n", p.dir, p.cmd.Process.Pid, p.dir)
	if code != 1 || out != want {
		t.Errorf("second run: status %d, output:\n%s\nwant status 1, output:\n%s", code, out, want)
	}
	// The guest's connection still works: a HEALTH request is answered.
	var req, got frame.Frame
	frame.Encode(&req, frame.Health, 0x010, apidswitch.APIDHealth, nil)
	if err := cam.WriteFrame(&req); err != nil {
		t.Fatal(err)
	}
	cam.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := cam.ReadFrame(&got); err != nil {
		t.Fatalf("camera after the second run: %v", err)
	}
	if got.Type() != frame.Health || got.APID() != apidswitch.APIDHealth {
		t.Fatalf("camera got %x, want a HEALTH reply", got[:16])
	}
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
	proc, err := apidswitch.Dial(p.sock("processor"))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	p.waitLog("tenant connected", "tenant=processor")
	out, code := spacenet(t, env, "inject", "--type", "TM", "--apid", "0x010", "--dest", "0x020", "--payload", "hi", "--tenant", "camera")
	if code != 0 || out != "sent TM from 0x010 to 0x020, 2 payload bytes\n" {
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
