// Package vmtest builds a small guest image (a Debian kernel and a busybox
// initramfs holding static spacenet programs) and runs guests under QEMU for
// tests and for users trying the system (scripts/guest-image.sh).
//
// The image: the host's Debian kernel (package linux-image-amd64,
// /boot/vmlinuz-*), booted directly with -kernel; an initramfs written by
// this package (cpio "newc") with busybox (package busybox-static), the
// virtio modules the guest needs (virtio_pci, virtio_console, virtio_net
// and their dependencies from modules.dep, more if Spec.Modules names
// them), an /init and the programs, built with CGO_ENABLED=0, and any
// dynamically linked host programs Spec.Binaries names, with their
// libraries. Images are cached under a directory keyed by
// the sha256 of every input, so a second build of the same inputs only
// hashes them; the KeepImages most recently used are kept.
//
// It is not a VM manager for production (no disk images, no restart
// policy): `spacenet up` is meant to be that.
package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Spec is what goes into an image. The zero value is the host's newest
// kernel, /bin/busybox, the default modules and no program.
type Spec struct {
	Kernel  string // a bzImage; "" means the newest /boot/vmlinuz-*
	Busybox string // a static busybox; "" means /bin/busybox (Debian's busybox-static)
	// Programs are Go packages built static into /bin: name in the guest
	// -> package path, e.g. "camera-server": "spacenet/examples/camera-server".
	Programs map[string]string
	// Modules are loaded at boot, after their dependencies; nil means
	// DefaultModules.
	Modules []string
	// Binaries are dynamically linked host programs copied into the guest
	// at the same path, with the shared libraries `ldd` names for them and
	// the dynamic loader, e.g. /usr/sbin/tc. Call them by that path: an
	// applet of busybox by the same name comes first in PATH.
	Binaries []string
	// CacheDir holds the images; "" means DefaultCacheDir().
	CacheDir string
	// Dir is where `go build` runs (inside the spacenet module); "" means
	// the current directory.
	Dir string
}

// DefaultModules are the modules a guest loads: PCI virtio transport,
// virtio-serial ports and the virtio NIC.
var DefaultModules = []string{"virtio_pci", "virtio_console", "virtio_net"}

// Image is a built guest: boot it with Kernel and Initrd.
type Image struct {
	Kernel  string // the kernel (bzImage)
	Initrd  string // the initramfs (uncompressed cpio: nothing to decompress under TCG)
	Release string // the kernel release, e.g. 6.1.0-57-amd64
	Key     string // the cache key: sha256 of every input
	Cached  bool   // the image was already in the cache
}

// DefaultCacheDir is $SPACENET_VM_CACHE, else <user cache dir>/spacenet-vm,
// else a directory under the temporary directory.
func DefaultCacheDir() string {
	if d := os.Getenv("SPACENET_VM_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "spacenet-vm")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("spacenet-vm-%d", os.Getuid()))
}

// FindKernel returns the newest /boot/vmlinuz-* and its release.
func FindKernel() (path, release string, err error) {
	ks, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(ks) == 0 {
		return "", "", errors.New("vmtest: no kernel in /boot (install linux-image-amd64: scripts/deps.sh)")
	}
	sort.Slice(ks, func(i, j int) bool { return versionLess(ks[i], ks[j]) })
	path = ks[len(ks)-1]
	return path, strings.TrimPrefix(filepath.Base(path), "vmlinuz-"), nil
}

// versionLess orders kernel file names by their numbers (6.1.0-9 before
// 6.1.0-10).
func versionLess(a, b string) bool {
	na, nb := numbers(a), numbers(b)
	return slices.Compare(na, nb) < 0
}

func numbers(s string) []int {
	var out []int
	n, in := 0, false
	for _, r := range s + "." {
		if r >= '0' && r <= '9' {
			n, in = n*10+int(r-'0'), true
			continue
		}
		if in {
			out = append(out, n)
		}
		n, in = 0, false
	}
	return out
}

// Build makes the image of spec, or finds it in the cache.
func Build(ctx context.Context, spec Spec) (*Image, error) {
	img := &Image{Kernel: spec.Kernel}
	if img.Kernel == "" {
		k, rel, err := FindKernel()
		if err != nil {
			return nil, err
		}
		img.Kernel, img.Release = k, rel
	} else {
		img.Release = strings.TrimPrefix(filepath.Base(img.Kernel), "vmlinuz-")
	}
	if spec.Busybox == "" {
		spec.Busybox = "/bin/busybox"
	}
	if spec.Modules == nil {
		spec.Modules = DefaultModules
	}
	if spec.CacheDir == "" {
		spec.CacheDir = DefaultCacheDir()
	}
	busybox, err := os.ReadFile(spec.Busybox)
	if err != nil {
		return nil, fmt.Errorf("vmtest: busybox (install busybox-static: scripts/deps.sh): %w", err)
	}
	mods, err := moduleOrder(img.Release, spec.Modules)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "vmtest-build")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	progs, err := buildPrograms(ctx, spec, tmp)
	if err != nil {
		return nil, err
	}

	// The key: every input's bytes, named.
	h := sha256.New()
	add := func(name string, data []byte) {
		fmt.Fprintf(h, "%s %d\n", name, len(data))
		h.Write(data)
	}
	kernel, err := os.ReadFile(img.Kernel)
	if err != nil {
		return nil, fmt.Errorf("vmtest: kernel: %w", err)
	}
	add("kernel", kernel)
	add("init", []byte(initScript))
	add("busybox", busybox)
	modData := make([][]byte, len(mods))
	for i, m := range mods {
		if modData[i], err = os.ReadFile(filepath.Join("/lib/modules", img.Release, m)); err != nil {
			return nil, fmt.Errorf("vmtest: module: %w", err)
		}
		add(m, modData[i])
	}
	names := slices.Sorted(maps.Keys(progs))
	for _, n := range names {
		add("bin/"+n, progs[n])
	}
	files, err := hostFiles(spec.Binaries)
	if err != nil {
		return nil, err
	}
	filePaths := slices.Sorted(maps.Keys(files))
	for _, p := range filePaths {
		add(p, files[p])
	}
	img.Key = hex.EncodeToString(h.Sum(nil))[:24]
	dir := filepath.Join(spec.CacheDir, img.Key)
	img.Initrd = filepath.Join(dir, "initrd.cpio")
	if _, err := os.Stat(img.Initrd); err == nil {
		img.Cached = true
		now := time.Now()
		os.Chtimes(dir, now, now) // most recently used: pruned last
		return img, nil
	}

	var buf bytes.Buffer
	c := &cpioWriter{w: &buf}
	made := map[string]bool{}
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "run", "etc", "lib", "lib/modules"} {
		c.Dir(d)
		made[d] = true
	}
	c.File("init", 0o755, []byte(initScript))
	c.File("bin/busybox", 0o755, busybox)
	c.Symlink("bin/sh", "busybox")
	var order strings.Builder
	for i, m := range mods {
		base := filepath.Base(m)
		c.File("lib/modules/"+base, 0o644, modData[i])
		order.WriteString(base + "\n")
	}
	c.File("etc/modules", 0o644, []byte(order.String()))
	for _, n := range names {
		c.File("bin/"+n, 0o755, progs[n])
	}
	for _, p := range filePaths {
		name := strings.TrimPrefix(p, "/")
		var parents []string
		for d := filepath.Dir(name); d != "." && !made[d]; d = filepath.Dir(d) {
			parents = append(parents, d)
			made[d] = true
		}
		for i := len(parents) - 1; i >= 0; i-- {
			c.Dir(parents[i])
		}
		c.File(name, 0o755, files[p])
	}
	if err := c.Close(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Written then renamed: a concurrent or interrupted build never
	// leaves a partial image under the key.
	part := img.Initrd + fmt.Sprintf(".%d", os.Getpid())
	if err := os.WriteFile(part, buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(part, img.Initrd); err != nil {
		return nil, err
	}
	prune(spec.CacheDir, KeepImages)
	return img, nil
}

// KeepImages is how many images the cache keeps: after a build, the least
// recently used beyond it are removed (every code change makes a new one).
const KeepImages = 6

// prune removes the image directories of cache beyond the keep most
// recently used. Only directories named as keys (24 hex digits) holding
// nothing but an image are removed.
func prune(cache string, keep int) {
	es, err := os.ReadDir(cache)
	if err != nil {
		return
	}
	type entry struct {
		path string
		used time.Time
	}
	var imgs []entry
	for _, e := range es {
		if !e.IsDir() || len(e.Name()) != 24 || strings.Trim(e.Name(), "0123456789abcdef") != "" {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		imgs = append(imgs, entry{filepath.Join(cache, e.Name()), info.ModTime()})
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].used.After(imgs[j].used) })
	for _, e := range imgs[min(keep, len(imgs)):] {
		os.Remove(filepath.Join(e.path, "initrd.cpio"))
		os.Remove(e.path) // fails, leaving it, if anything else is in it
	}
}

// buildPrograms builds spec.Programs static into tmp and returns their bytes.
func buildPrograms(ctx context.Context, spec Spec, tmp string) (map[string][]byte, error) {
	out := map[string][]byte{}
	if len(spec.Programs) == 0 {
		return out, nil
	}
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", tmp + "/"}
	byPkg := map[string]string{}
	for name, pkg := range spec.Programs {
		args = append(args, pkg)
		byPkg[pkg] = name
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("vmtest: go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	for pkg, name := range byPkg {
		b, err := os.ReadFile(filepath.Join(tmp, filepath.Base(pkg)))
		if err != nil {
			return nil, fmt.Errorf("vmtest: program %s: %w", name, err)
		}
		out[name] = b
	}
	return out, nil
}

// hostFiles reads the programs of binaries and the shared libraries and
// dynamic loader `ldd` lists for each (the host's paths, links followed),
// by absolute path.
func hostFiles(binaries []string) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, bin := range binaries {
		if !filepath.IsAbs(bin) {
			return nil, fmt.Errorf("vmtest: binary %q: not an absolute path", bin)
		}
		out, err := exec.Command("ldd", bin).Output()
		if err != nil {
			return nil, fmt.Errorf("vmtest: ldd %s: %w", bin, err)
		}
		paths := []string{bin}
		for _, line := range strings.Split(string(out), "\n") {
			// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
			// "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vDSO has no file.
			f := strings.Fields(line)
			if len(f) >= 4 && f[1] == "=>" && f[2] == "not" && f[3] == "found" {
				return nil, fmt.Errorf("vmtest: binary %s: ldd finds no %s on this host", bin, f[0])
			}
			if len(f) >= 3 && f[1] == "=>" && filepath.IsAbs(f[2]) {
				paths = append(paths, f[2])
			} else if len(f) >= 1 && filepath.IsAbs(f[0]) {
				paths = append(paths, f[0])
			}
		}
		for _, p := range paths {
			if files[p] != nil {
				continue
			}
			if files[p], err = os.ReadFile(p); err != nil {
				return nil, fmt.Errorf("vmtest: binary %s: %w", bin, err)
			}
		}
	}
	return files, nil
}

// moduleOrder returns the module files (relative to /lib/modules/<release>)
// to load for names, each after its dependencies, from modules.dep.
func moduleOrder(release string, names []string) ([]string, error) {
	depFile := filepath.Join("/lib/modules", release, "modules.dep")
	f, err := os.Open(depFile)
	if err != nil {
		return nil, fmt.Errorf("vmtest: modules of kernel %s: %w", release, err)
	}
	defer f.Close()
	deps := map[string][]string{} // module name -> its file, then its deps' files
	byFile := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		file, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(file), ".ko")
		name = strings.ReplaceAll(name, "-", "_")
		deps[name] = append([]string{file}, strings.Fields(rest)...)
		byFile[file] = strings.Fields(rest)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("vmtest: %s: %w", depFile, err)
	}
	var order []string
	seen := map[string]bool{}
	var visit func(file string)
	visit = func(file string) {
		if seen[file] {
			return
		}
		seen[file] = true
		for _, d := range byFile[file] {
			visit(d)
		}
		order = append(order, file)
	}
	for _, n := range names {
		d, ok := deps[n]
		if !ok {
			// Built into the kernel (or absent): nothing to load.
			if builtin(release, n) {
				continue
			}
			return nil, fmt.Errorf("vmtest: module %s: not in %s nor built in", n, depFile)
		}
		visit(d[0])
	}
	return order, nil
}

func builtin(release, name string) bool {
	b, err := os.ReadFile(filepath.Join("/lib/modules", release, "modules.builtin"))
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.ReplaceAll(strings.TrimSuffix(filepath.Base(l), ".ko"), "-", "_") == name {
			return true
		}
	}
	return false
}
