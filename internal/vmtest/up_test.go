package vmtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"spacenet/camera/cameraipc"
	"spacenet/ipc"
	"spacenet/ipc/switched"
	"spacenet/ops/control"
)

// hostSpacenet builds the spacenet command for the host, with the flags
// the image's programs are built with (the build cache serves both).
func hostSpacenet(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "spacenet")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "spacenet/cmd/spacenet")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// processesWith returns the pids of the processes whose command line
// contains s.
func processesWith(s string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), s) {
			pids = append(pids, pid)
		}
	}
	return pids
}

var startedRE = regexp.MustCompile(`msg="up: guest started" guest=camera pid=(\d+) start=(\d+)`)

// guestPID returns the pid of QEMU's start n of guest camera from up's
// log, waiting for it.
func guestPID(t *testing.T, log *console, n int) int {
	t.Helper()
	pid := 0
	waitFor(t, fmt.Sprintf("start %d of the guest", n), func() bool {
		for _, m := range startedRE.FindAllStringSubmatch(log.String(), -1) {
			if m[2] == strconv.Itoa(n) {
				pid, _ = strconv.Atoi(m[1])
				return true
			}
		}
		return false
	})
	return pid
}

// TestUp: `spacenet up` (the built binary) brings up the v0 computer with
// one guest from a system file: the APID switch, the LAN, and a QEMU
// guest running camera-server on its virtio-serial port, its NIC on the
// LAN with the address the file gives, its console in the log directory.
// The processor on the host calls the camera through the switch. The
// guest's QEMU is killed with a call in flight: the call fails with
// ServerDeath, up starts the guest again (generation 2) and the caller is
// served by the new camera. SIGINT stops it all: up exits 0 printing
// both switches' counters, and no process and no socket of it is left.
func TestUp(t *testing.T) {
	needQEMU(t)
	img := cameraImage(t)
	bin := hostSpacenet(t)
	dir := t.TempDir()
	sys := fmt.Sprintf(`socket_dir = "s"
lan_dir = "l"
log_dir = "logs"
restart_delay = "100ms"

[[guest]]
name = "camera"
kernel = %q
initrd = %q
ip = "10.0.0.1/24"
run = """
ip -4 addr show eth0
camera-server --device /dev/virtio-ports/spacenet
"""
`, img.Kernel, img.Initrd)
	path := filepath.Join(dir, "system.toml")
	if err := os.WriteFile(path, []byte(sys), 0o600); err != nil {
		t.Fatal(err)
	}
	dry, err := exec.Command(bin, "up", "--config", path, "--dry-run").CombinedOutput()
	if err != nil || !strings.Contains(string(dry), "addr.path="+dir+"/l/camera.sock -device virtio-net-pci,netdev=n0,mac=52:54:00:53:4e:01") {
		t.Fatalf("--dry-run: %v\n%s", err, dry)
	}

	out, log := &console{}, &console{}
	up := exec.Command(bin, "up", "--config", path)
	up.Stdout, up.Stderr = out, log
	up.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var upErr error
	go func() {
		upErr = up.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		up.Process.Kill()
		<-exited
		if t.Failed() {
			con, _ := os.ReadFile(filepath.Join(dir, "logs", "camera.console"))
			t.Logf("up's output:\n%s\nup's log:\n%s\nconsole:\n%s", out, log, con)
		}
	})
	sock := filepath.Join(dir, "s", "processor.sock")
	// The control socket, not the tenant's: up opens it once the switch is
	// ready, when every tenant socket listens (a socket file exists from
	// bind, a moment before its listen: a dial then is refused).
	ctlSock := control.Path(filepath.Join(dir, "s"))
	waitFor(t, "the switch's control socket", func() bool { _, err := os.Stat(ctlSock); return err == nil })
	ctx, cancel := context.WithTimeout(context.Background(), 3*testTimeout)
	defer cancel()
	proc, err := switched.Dial(ctx, switched.Config{Socket: sock, Tenant: "processor", Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	cam := cameraipc.NewCameraClient(proc.Client(cameraAPID))
	first := guestPID(t, log, 1)
	if _, err := cam.Status(ctx); err != nil {
		t.Fatalf("status: %v", err)
	}
	con, err := os.ReadFile(filepath.Join(dir, "logs", "camera.console"))
	if err != nil || !strings.Contains(string(con), "inet 10.0.0.1/24") {
		t.Fatalf("the console log lacks eth0's address: %v\n%s", err, con)
	}

	// The guest dies with a call in flight (QEMU frozen first, so that
	// the call is certainly in it): ServerDeath. up starts it again.
	ctl := ctlSock
	tenant := func(name string) control.Tenant {
		var snap control.APID
		if err := control.Fetch(ctl, &snap); err != nil {
			t.Fatal(err)
		}
		for _, c := range snap.Tenants {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no tenant %s in the snapshot", name)
		return control.Tenant{}
	}
	if err := syscall.Kill(first, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	before := tenant("processor").Delivered
	capRes := make(chan error, 1)
	go func() {
		_, err := cam.Capture(ctx, 300)
		capRes <- err
	}()
	waitFor(t, "the capture in the frozen guest's socket", func() bool { return tenant("processor").Delivered > before })
	syscall.Kill(first, syscall.SIGKILL)
	if err := <-capRes; !errors.Is(err, ipc.ServerDeath) {
		t.Fatalf("capture across the guest's death: %v, want ServerDeath", err)
	}
	second := guestPID(t, log, 2)
	waitFor(t, "camera's second connection", func() bool {
		c := tenant("camera")
		return c.Generation == 2 && c.Connected
	})
	if err := cam.SetMode(ctx, cameraipc.CameraModeScience); err != nil {
		t.Fatalf("set_mode on the new guest: %v", err)
	}
	if st, err := cam.Status(ctx); err != nil || st.Mode != cameraipc.CameraModeScience {
		t.Fatalf("status of the new guest: %+v, %v", st, err)
	}

	// Ctrl-C.
	proc.Close()
	up.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
		if upErr != nil {
			t.Fatalf("up: %v", upErr)
		}
	case <-time.After(testTimeout):
		t.Fatal("up did not stop on SIGINT")
	}
	for _, want := range []string{"APID switch:\n", "LAN:\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("up's output lacks %q", want)
		}
	}
	if pids := processesWith(dir); len(pids) > 0 {
		t.Errorf("processes left: %v (QEMU was %d, then %d)", pids, first, second)
	}
	for _, p := range []string{"s/camera.sock", "s/processor.sock", "l/camera.sock", "l/processor.sock"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s left", p)
		}
	}
}

// bootSector is a disk's first sector that the firmware (SeaBIOS) boots:
// real-mode code writing its message to COM1, the guest's console, then
// halting.
func bootSector(msg string) []byte {
	code := []byte{
		0x31, 0xC0, // xor ax, ax
		0x8E, 0xD8, // mov ds, ax
		0xBE, 0x16, 0x7C, // mov si, 0x7C16 (the message, after this code)
		0xBA, 0xF8, 0x03, // mov dx, 0x3F8 (COM1)
		0xAC,       // next: lodsb
		0x84, 0xC0, // test al, al
		0x74, 0x03, // jz done
		0xEE,       // out dx, al
		0xEB, 0xF8, // jmp next
		0xFA,       // done: cli
		0xF4,       // halt: hlt
		0xEB, 0xFD, // jmp halt
	}
	s := append(append(code, msg...), 0)
	s = append(s, make([]byte, 510-len(s))...)
	return append(s, 0x55, 0xAA)
}

// TestUpDisk: a guest with a disk image and no kernel is booted from its
// disk by the firmware: the disk's boot sector writes to the console log,
// and Ctrl-C leaves no process.
func TestUpDisk(t *testing.T) {
	needQEMU(t)
	bin := hostSpacenet(t)
	dir := t.TempDir()
	const msg = "spacenet disk boot"
	disk := filepath.Join(dir, "payload.img")
	if err := os.WriteFile(disk, append(bootSector(msg+"\r\n"), make([]byte, 1<<20-512)...), 0o600); err != nil {
		t.Fatal(err)
	}
	sys := `socket_dir = "s"
lan_dir = "l"
log_dir = "logs"

[[guest]]
name = "payload"
disk = "payload.img"
port = "none"
lan_port = "none"
`
	path := filepath.Join(dir, "system.toml")
	if err := os.WriteFile(path, []byte(sys), 0o600); err != nil {
		t.Fatal(err)
	}
	out, log := &console{}, &console{}
	up := exec.Command(bin, "up", "--config", path)
	up.Stdout, up.Stderr = out, log
	up.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	conPath := filepath.Join(dir, "logs", "payload.console")
	t.Cleanup(func() {
		up.Process.Kill()
		if t.Failed() {
			con, _ := os.ReadFile(conPath)
			t.Logf("up's output:\n%s\nup's log:\n%s\nconsole:\n%s", out, log, con)
		}
	})
	waitFor(t, "the boot sector's message on the console", func() bool {
		con, _ := os.ReadFile(conPath)
		return strings.Contains(string(con), msg)
	})
	up.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("up: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("up did not stop on SIGINT")
	}
	if pids := processesWith(dir); len(pids) > 0 {
		t.Errorf("processes left: %v", pids)
	}
}
