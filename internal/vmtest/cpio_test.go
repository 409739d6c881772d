package vmtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCPIOReadByCpio: GNU cpio lists and extracts what cpioWriter wrote:
// the entries in order, a file's bytes (lengths 0-5 exercise the padding),
// a symlink's target.
func TestCPIOReadByCpio(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio not installed (apt-get install cpio)")
	}
	var buf bytes.Buffer
	c := &cpioWriter{w: &buf}
	c.Dir("bin")
	names := []string{"bin"}
	for n := range 6 {
		name := "bin/f" + strings.Repeat("x", n)
		c.File(name, 0o755, []byte(strings.Repeat("y", n)))
		names = append(names, name)
	}
	c.Symlink("bin/sh", "busybox")
	names = append(names, "bin/sh")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Fatalf("archive of %d bytes, not a multiple of 4", buf.Len())
	}
	dir := t.TempDir()
	cmd := exec.Command("cpio", "-id", "--quiet", "-v")
	cmd.Dir, cmd.Stdin = dir, bytes.NewReader(buf.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio: %v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); !slices.Equal(got, names) {
		t.Fatalf("cpio listed %q, want %q", got, names)
	}
	for n := range 6 {
		b, err := exec.Command("cat", dir+"/bin/f"+strings.Repeat("x", n)).Output()
		if err != nil || string(b) != strings.Repeat("y", n) {
			t.Fatalf("file of %d bytes: %q, %v", n, b, err)
		}
	}
	if l, err := exec.Command("readlink", dir+"/bin/sh").Output(); err != nil || string(l) != "busybox\n" {
		t.Fatalf("symlink: %q, %v", l, err)
	}
}

// TestModuleOrder: every module comes after the modules it depends on
// (virtio_console after virtio and virtio_ring), each once.
func TestModuleOrder(t *testing.T) {
	_, rel, err := FindKernel()
	if err != nil {
		t.Skip(err)
	}
	order, err := moduleOrder(rel, DefaultModules)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%q", order)
	pos := map[string]int{}
	for i, m := range order {
		if _, dup := pos[m]; dup {
			t.Fatalf("%s twice", m)
		}
		pos[m] = i
	}
	for _, pair := range [][2]string{
		{"kernel/drivers/virtio/virtio.ko", "kernel/drivers/char/virtio_console.ko"},
		{"kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/char/virtio_console.ko"},
		{"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_pci.ko"},
		{"kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko"},
		{"kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko"},
	} {
		a, okA := pos[pair[0]]
		b, okB := pos[pair[1]]
		if !okA || !okB || a > b {
			t.Errorf("%s (%v) should load before %s (%v)", pair[0], okA, pair[1], okB)
		}
	}
	if _, err := moduleOrder(rel, []string{"no_such_module"}); err == nil {
		t.Fatal("a module that does not exist was accepted")
	}
}

func TestVersionLess(t *testing.T) {
	ks := []string{"/boot/vmlinuz-6.1.0-10-amd64", "/boot/vmlinuz-6.1.0-9-amd64", "/boot/vmlinuz-5.10.0-30-amd64"}
	slices.SortFunc(ks, func(a, b string) int {
		switch {
		case versionLess(a, b):
			return -1
		case versionLess(b, a):
			return 1
		}
		return 0
	})
	want := []string{"/boot/vmlinuz-5.10.0-30-amd64", "/boot/vmlinuz-6.1.0-9-amd64", "/boot/vmlinuz-6.1.0-10-amd64"}
	if !slices.Equal(ks, want) {
		t.Fatalf("sorted %q, want %q", ks, want)
	}
}

// TestPrune: the least recently used images beyond keep are removed; other
// files and directories in the cache are left alone.
func TestPrune(t *testing.T) {
	cache := t.TempDir()
	var keys []string
	for i := range 4 {
		k := fmt.Sprintf("%024x", i)
		keys = append(keys, k)
		if err := os.MkdirAll(filepath.Join(cache, k), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cache, k, "initrd.cpio"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		used := time.Unix(int64(1000+i), 0) // key 3 the most recent
		if err := os.Chtimes(filepath.Join(cache, k), used, used); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(cache, "not-a-key"), 0o755); err != nil {
		t.Fatal(err)
	}
	prune(cache, 2)
	es, err := os.ReadDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range es {
		left = append(left, e.Name())
	}
	if want := []string{keys[2], keys[3], "not-a-key"}; !slices.Equal(left, want) {
		t.Fatalf("left %q, want %q", left, want)
	}
}

// TestHostFilesMissingLibrary: a binary whose shared library is gone is
// refused when the image is made, naming the library, not copied into a
// guest where it would fail to start.
func TestHostFilesMissingLibrary(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc to build a binary with a library of its own")
	}
	dir := t.TempDir()
	lib, src, prog := filepath.Join(dir, "libsnmissing.so"), filepath.Join(dir, "lib.c"), filepath.Join(dir, "prog")
	if err := os.WriteFile(src, []byte("int f(void) { return 1; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "main.c")
	if err := os.WriteFile(main, []byte("int f(void);\nint main(void) { return f(); }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-shared", "-fPIC", "-o", lib, src}, {"-o", prog, main, "-L" + dir, "-lsnmissing"}} {
		if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc %v: %v\n%s", args, err, out)
		}
	}
	if err := os.Remove(lib); err != nil {
		t.Fatal(err)
	}
	_, err := hostFiles([]string{prog})
	want := "vmtest: binary " + prog + ": ldd finds no libsnmissing.so on this host"
	if err == nil || err.Error() != want {
		t.Fatalf("hostFiles: %v, want %q", err, want)
	}
	if _, err := hostFiles([]string{"/bin/sh"}); err != nil {
		t.Fatalf("hostFiles(/bin/sh): %v", err)
	}
}
