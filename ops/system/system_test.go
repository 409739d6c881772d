package system

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/apid/apidswitch"
	"spacenet/apid/plane"
	"spacenet/ip/lan"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds every wait so that a bug fails a test instead of
// hanging it; it is not a synchronisation.
const testTimeout = 10 * time.Second

// writeSystem writes a system file in a fresh directory, with empty
// kernel and initrd files beside it, and returns its path.
func writeSystem(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"vmlinuz", "initrd"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "system.toml")
	body = strings.ReplaceAll(body, "DIR", dir)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseDefaults(t *testing.T) {
	path := writeSystem(t, `socket_dir = "s"
lan_dir = "DIR/l"
[[guest]]
name = "camera"
kernel = "vmlinuz"
initrd = "initrd"
ip = "10.0.0.1/24"
[[guest]]
name = "cam2"
tenant = "processor"
kernel = "/k"
initrd = "/i"
port = "serial"
memory = 128
qemu_args = ["-smp", "2"]
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	want := []Guest{
		{Name: "camera", Tenant: "camera", Kernel: dir + "/vmlinuz", Initrd: dir + "/initrd", Memory: 256, Port: PortVirtio,
			PortName: "spacenet", MAC: "52:54:00:53:4e:01", IP: "10.0.0.1/24", line: 3},
		{Name: "cam2", Tenant: "processor", Kernel: "/k", Initrd: "/i", Memory: 128, Port: PortSerial,
			PortName: "spacenet", MAC: "52:54:00:53:4e:02", QEMUArgs: []string{"-smp", "2"}, line: 8},
	}
	if c.SocketDir != dir+"/s" || c.LANDir != dir+"/l" || c.LogDir != dir || c.RestartDelay != time.Second || c.Policy != "" || c.LAN != "" {
		t.Errorf("config %+v", c)
	}
	if len(c.Guests) != 2 {
		t.Fatalf("guests %+v", c.Guests)
	}
	for i := range want {
		g, w := c.Guests[i], want[i]
		if g.Name != w.Name || g.Tenant != w.Tenant || g.Kernel != w.Kernel || g.Initrd != w.Initrd || g.Memory != w.Memory ||
			g.Port != w.Port || g.PortName != w.PortName || g.MAC != w.MAC || g.IP != w.IP || g.line != w.line ||
			strings.Join(g.QEMUArgs, " ") != strings.Join(w.QEMUArgs, " ") {
			t.Errorf("guest %d: %+v, want %+v", i+1, g, w)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string // the errors, in order, after "system.toml"
	}{
		{"missing", "[[guest]]\nmemory = 256\n", []string{
			`:1: guest 1: name: missing`, `:1: guest 1: kernel: missing (give kernel and initrd, or a bootable disk)`, `:1: guest 1: initrd: missing`}},
		{"kernel without initrd or disk", "[[guest]]\nname = \"a\"\nkernel = \"k\"\n", []string{
			`:1: guest 1 ("a"): initrd: missing (or a disk holding the root file system)`}},
		{"disk boot with kernel-line settings", "[[guest]]\nname = \"a\"\ndisk = \"a.img\"\ninitrd = \"i\"\nip = \"10.0.0.1/24\"\nrun = \"x\"\n", []string{
			`:4: guest 1 ("a"): initrd: needs kernel`,
			`:5: guest 1 ("a"): ip: needs kernel: it goes on the kernel's command line (a guest booted from its disk sets itself up)`,
			`:6: guest 1 ("a"): run: needs kernel: it goes on the kernel's command line (a guest booted from its disk sets itself up)`}},
		{"unknown key", "restart = 1\n[[guest]]\nname = \"a\"\nkernel = \"k\"\ninitrd = \"i\"\nmemroy = 64\n", []string{
			`:1: restart: unknown key`, `:6: guest 1 ("a"): memroy: unknown key`}},
		{"values", `restart_delay = "soon"
[[guest]]
name = "a b"
kernel = "k"
initrd = "i"
port = "usb"
mac = "01:00:5e:00:00:01"
ip = "10.0.0.1"
memory = 10
`, []string{
			`:1: restart_delay: "soon": want a duration from 1ms to 1h, such as "1s"`,
			`:3: guest 1 ("a b"): name: "a b": want letters, digits, '-' and '_'`,
			`:9: guest 1 ("a b"): memory: 10: want 64 to 1048576 MiB`,
			`:6: guest 1 ("a b"): port: "usb": want "virtio", "serial" or "none"`,
			`:7: guest 1 ("a b"): mac: "01:00:5e:00:00:01": want a unicast MAC such as 52:54:00:53:4e:01`,
			`:8: guest 1 ("a b"): ip: "10.0.0.1": want an IPv4 address with its prefix length, such as 10.0.0.1/24`,
		}},
		{"duplicates", `[[guest]]
name = "a"
kernel = "k"
initrd = "i"
mac = "52:54:00:00:00:09"
[[guest]]
name = "a"
kernel = "k"
initrd = "i"
mac = "52:54:00:00:00:09"
`, []string{
			`:7: guest 2 ("a"): name: "a": a second guest of that name`,
			`:10: guest 2 ("a"): mac: 52:54:00:00:00:09: guest "a" has it too`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("system.toml", []byte(tt.body))
			if err == nil {
				t.Fatal("no error")
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, "system.toml"+w)
			}
			if got := err.Error(); got != strings.Join(want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
			}
		})
	}
}

func TestResolve(t *testing.T) {
	path := writeSystem(t, `socket_dir = "/run/sn"
lan_dir = "/run/lan"
[[guest]]
name = "camera"
kernel = "/k"
initrd = "/i"
ip = "10.0.0.1/24"
run = "camera-server --device /dev/virtio-ports/spacenet"
[[guest]]
name = "proc"
tenant = "processor"
kernel = "/k"
initrd = "/i"
port = "serial"
lan_port = "none"
[[guest]]
name = "payload"
disk = "/images/payload.qcow2"
port = "none"
lan_port = "none"
[[guest]]
name = "flight"
kernel = "/k"
disk = "/images/root.img"
append = "root=/dev/vda"
port = "none"
lan_port = "none"
`)
	s := resolve(t, path)
	cam, proc := s.Guests[0], s.Guests[1]
	if cam.APIDSocket != "/run/sn/camera.sock" || cam.LANSocket != "/run/lan/camera.sock" {
		t.Errorf("camera placed on %q, %q", cam.APIDSocket, cam.LANSocket)
	}
	if proc.APIDSocket != "/run/sn/processor.sock" || proc.LANSocket != "" {
		t.Errorf("proc placed on %q, %q", proc.APIDSocket, proc.LANSocket)
	}
	var b bytes.Buffer
	if err := s.WriteCommands(&b); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	base := "qemu-system-x86_64 -nodefaults -no-user-config -no-reboot -nographic -machine q35,accel=tcg -bios qboot.rom -cpu max -smp 1 -m 256 -kernel /k -initrd /i -append "
	want := "# guest camera (tenant camera, console " + dir + "/camera.console)\n" + base +
		"'console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off spacenet.port=spacenet spacenet.ip=10.0.0.1/24 spacenet.run=Y2FtZXJhLXNlcnZlciAtLWRldmljZSAvZGV2L3ZpcnRpby1wb3J0cy9zcGFjZW5ldA==' " +
		"-serial stdio -monitor none -device virtio-serial-pci,id=vser0 -chardev socket,id=c0,path=/run/sn/camera.sock,reconnect=1 " +
		"-device virtserialport,bus=vser0.0,chardev=c0,name=spacenet -netdev stream,id=n0,server=off,addr.type=unix,addr.path=/run/lan/camera.sock " +
		"-device virtio-net-pci,netdev=n0,mac=52:54:00:53:4e:01\n" +
		"# guest proc (tenant processor, console " + dir + "/proc.console)\n" + base +
		"'console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off' -serial stdio -monitor none " +
		"-chardev socket,id=s1,path=/run/sn/processor.sock,reconnect=1 -serial chardev:s1\n" +
		// Booted by SeaBIOS from its disk: no qboot, no kernel line.
		"# guest payload (tenant payload, console " + dir + "/payload.console)\n" +
		"qemu-system-x86_64 -nodefaults -no-user-config -no-reboot -nographic -machine q35,accel=tcg -cpu max -smp 1 -m 256 " +
		"-drive file=/images/payload.qcow2,if=virtio,format=qcow2 -serial stdio -monitor none\n" +
		// A kernel with its root file system on the disk: no initrd.
		"# guest flight (tenant flight, console " + dir + "/flight.console)\n" +
		"qemu-system-x86_64 -nodefaults -no-user-config -no-reboot -nographic -machine q35,accel=tcg -bios qboot.rom -cpu max -smp 1 -m 256 " +
		"-kernel /k -append 'console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off root=/dev/vda' " +
		"-drive file=/images/root.img,if=virtio,format=raw -serial stdio -monitor none\n"
	if b.String() != want {
		t.Errorf("commands:\n%s\nwant:\n%s", b.String(), want)
	}
}

// resolve loads and resolves the system file at path.
func resolve(t *testing.T, path string) *System {
	t.Helper()
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Resolve(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestResolveErrors(t *testing.T) {
	path := writeSystem(t, `[[guest]]
name = "vault"
kernel = "/k"
initrd = "/i"
[[guest]]
name = "camera"
kernel = "/k"
initrd = "/i"
lan_port = "nope"
[[guest]]
name = "cam2"
tenant = "camera"
kernel = "/k"
initrd = "/i"
lan_port = "none"
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Resolve(c)
	sock := c.SocketDir + "/camera.sock"
	want := path + `:1: guest 1 ("vault"): tenant: "vault" is not a tenant of the policy built-in v0 (tenants: camera, processor, spaceos)` + "\n" +
		path + `:5: guest 2 ("camera"): lan_port: "nope": no such port in built-in default` + "\n" +
		path + `:10: guest 3 ("cam2"): tenant: ` + sock + ` is guest "camera"'s too (one guest per socket)`
	if err == nil || err.Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
}

// fakeQEMU writes a script that stands in for the emulator (it records
// its arguments and sleeps; with ignoreTerm it ignores SIGTERM), to test
// the supervisor alone, without VMs.
func fakeQEMU(t *testing.T, ignoreTerm bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qemu")
	trap := ""
	if ignoreTerm {
		trap = "trap '' TERM\n"
	}
	script := "#!/bin/sh\n" + trap + "echo \"fake qemu $$\"\nexec sleep 1000\n"
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// alive reports whether process pid exists (a zombie counts as gone: it
// has exited).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z"
}

// TestRunRestartStop: Run starts a QEMU per guest once both switches
// listen (the tenant's APID and LAN sockets exist when it starts), starts
// one again when it dies, and on cancel stops them all (SIGKILL for one
// that ignores SIGTERM) and the switches, leaving no process and no
// socket.
func TestRunRestartStop(t *testing.T) {
	for _, ignoreTerm := range []bool{false, true} {
		name := "stops on SIGTERM"
		if ignoreTerm {
			name = "killed after the stop timeout"
		}
		t.Run(name, func(t *testing.T) {
			path := writeSystem(t, `socket_dir = "DIR/s"
lan_dir = "DIR/l"
log_dir = "DIR/logs"
restart_delay = "1ms"
[[guest]]
name = "camera"
kernel = "vmlinuz"
initrd = "initrd"
`)
			s := resolve(t, path)
			c := s.Config
			g := s.Guests[0]
			type start struct {
				pid     int
				sockets bool
			}
			starts := make(chan start, 8)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			var report *apidswitch.Switch
			go func() {
				done <- Run(ctx, s, Options{Logger: quietLogger(), QEMU: fakeQEMU(t, ignoreTerm), StopTimeout: 100 * time.Millisecond,
					Started: func(guest string, pid int) {
						_, e1 := os.Stat(g.APIDSocket)
						_, e2 := os.Stat(g.LANSocket)
						starts <- start{pid, e1 == nil && e2 == nil}
					},
					Stopped: func(p *plane.Plane, _ *lan.LAN) { report = p.Switch }})
			}()
			next := func() start {
				select {
				case st := <-starts:
					if !st.sockets {
						t.Errorf("QEMU started before the tenant's sockets existed")
					}
					return st
				case err := <-done:
					t.Fatalf("Run returned %v", err)
				case <-time.After(testTimeout):
					t.Fatal("no QEMU started")
				}
				return start{}
			}
			first := next()
			syscall.Kill(first.pid, syscall.SIGKILL) // the guest dies
			second := next()
			if second.pid == first.pid {
				t.Fatalf("not restarted")
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(testTimeout):
				t.Fatal("Run did not return")
			}
			if report == nil {
				t.Error("Stopped not called")
			}
			if alive(second.pid) {
				t.Errorf("QEMU %d still running", second.pid)
			}
			for _, p := range []string{g.APIDSocket, g.LANSocket} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left: %v", p, err)
				}
			}
			con, err := os.ReadFile(filepath.Join(c.LogDir, "camera.console"))
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(con), "=== spacenet up: guest camera, start "); n != 2 {
				t.Errorf("console has %d starts, want 2:\n%s", n, con)
			}
		})
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
