package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinaryUp: --dry-run prints each guest's QEMU command line; a system
// file with a problem is refused with status 1, naming the line.
func TestBinaryUp(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "system.toml")
	if err := os.WriteFile(good, []byte(`socket_dir = "/run/sn"
lan_dir = "/run/lan"
[[guest]]
name = "camera"
kernel = "/k"
initrd = "/i"
port = "serial"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := spacenet(t, nil, "up", "--config", good, "--dry-run")
	want := "# guest camera (tenant camera, console " + dir + "/camera.console)\n" +
		"qemu-system-x86_64 -nodefaults -no-user-config -no-reboot -nographic -machine q35,accel=tcg -bios qboot.rom " +
		"-cpu max -smp 1 -m 256 -kernel /k -initrd /i -append 'console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off' " +
		"-serial stdio -monitor none -chardev socket,id=s1,path=/run/sn/camera.sock,reconnect=1 -serial chardev:s1 " +
		"-netdev stream,id=n0,server=off,addr.type=unix,addr.path=/run/lan/camera.sock -device virtio-net-pci,netdev=n0,mac=52:54:00:53:4e:01\n"
	if code != 0 || out != want {
		t.Errorf("--dry-run: status %d, output:\n%s\nwant:\n%s", code, out, want)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[[guest]]\nname = \"camera\"\nkernel = \"/k\"\ninitrd = \"/i\"\nmemory = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = spacenet(t, nil, "up", "--config", bad)
	if code != 1 || !strings.Contains(out, bad+`:5: guest 1 ("camera"): memory: 1: want 64 to 1048576 MiB`) {
		t.Errorf("a bad file: status %d, output:\n%s", code, out)
	}
}
