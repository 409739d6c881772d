package lan

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"spacenet/ip/wire"
)

// The LAN attacks of issue 14 item 6, on the default port configuration
// (sticky MAC, storm control, MAC limit): each failed on the code before
// these defences.

var (
	macCam  = wire.LocalMAC(0xca)
	macProc = wire.LocalMAC(0x20)
	macOS   = wire.LocalMAC(0x05)
)

// tenantLAN is a switch on a fake clock with camera, processor and
// spaceos ports in the default configuration; speakers of them (by index)
// have sent a broadcast from their MAC (as ARP would), drained from the
// others, and a second has passed, which fills the storm buckets again.
func tenantLAN(t *testing.T, speakers ...int) (clk *fakeClock, s *Switch, all []*MemNIC) {
	t.Helper()
	clk = newFakeClock()
	s = New(Options{Clock: clk})
	t.Cleanup(func() { s.Close() })
	all = memPorts(t, s, pc("camera", "camera"), pc("processor", "processor"), pc("spaceos", "spaceos"))
	hellos(t, clk, all, speakers...)
	return clk, s, all
}

// hellos: each port of all named by speakers sends a broadcast from its
// MAC, drained from the others; then a second passes on clk.
func hellos(t *testing.T, clk *fakeClock, all []*MemNIC, speakers ...int) {
	t.Helper()
	macs := []wire.MAC{macCam, macProc, macOS}
	for _, i := range speakers {
		send(t, all[i], eth(bcast, macs[i], 0x0806, nil, 60))
		for _, q := range all {
			if q != all[i] {
				drain(t, q, 1)
			}
		}
	}
	clk.Advance(time.Second)
}

// exchange sends n frames each way between processor and spaceos in
// batches of 50, draining as it goes, and returns how many frames the
// camera port was given meanwhile.
func exchange(t *testing.T, s *Switch, proc, os *MemNIC, n int) int {
	t.Helper()
	before, _ := s.Port("camera")
	batch := make([][]byte, 50)
	for sent := 0; sent < n; sent += len(batch) {
		for _, dir := range []struct {
			from, to *MemNIC
			src, dst wire.MAC
		}{{proc, os, macProc, macOS}, {os, proc, macOS, macProc}} {
			for i := range batch {
				batch[i] = eth(dir.dst, dir.src, 0x0800, []byte{byte(sent >> 8), byte(sent + i)}, 60)
			}
			send(t, dir.from, batch...)
			drain(t, dir.to, len(batch))
		}
	}
	after, _ := s.Port("camera")
	return int(after.TxFrames+uint64(after.Queued)) - int(before.TxFrames+uint64(before.Queued))
}

// TestAttackBroadcastStorm: a storm from one port does not cost two other
// ports a frame. The storm's excess is dropped at its port and counted;
// the burst that passes fits the victims' queues.
func TestAttackBroadcastStorm(t *testing.T) {
	for _, tt := range []struct {
		name   string
		dst    wire.MAC
		reason Reason
	}{
		{"broadcast", bcast, ReasonStormBroadcast},
		{"multicast", mcast, ReasonStormMulticast},
		{"unknown unicast", macX, ReasonStormUnknown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, s, all := tenantLAN(t, 0, 1, 2)
			cam, proc, os := all[0], all[1], all[2]
			storm := make([][]byte, 10_000)
			for i := range storm {
				storm[i] = eth(tt.dst, macCam, 0x88b5, nil, 60)
			}
			send(t, cam, storm...)
			const n = 150
			frames := make([][]byte, n)
			for i := range frames {
				frames[i] = eth(macOS, macProc, 0x0800, []byte{byte(i)}, 60)
			}
			send(t, proc, frames...)
			got := drain(t, os, DefaultStormBurst+n)
			for i, f := range got[DefaultStormBurst:] {
				if wire.MAC(f[6:12]) != macProc || f[14] != byte(i) {
					t.Fatalf("spaceos frame %d: % x; want processor's frame %d", DefaultStormBurst+i, f[:15], i)
				}
			}
			drain(t, proc, DefaultStormBurst)
			sc, _ := s.Port("camera")
			so, _ := s.Port("spaceos")
			if sc.RxDrops[tt.reason] != 10_000-DefaultStormBurst || sc.Forwarded() != 1+DefaultStormBurst {
				t.Errorf("camera: %s %d, forwarded %d; want %d, %d", tt.reason, sc.RxDrops[tt.reason], sc.Forwarded(), 10_000-DefaultStormBurst, 1+DefaultStormBurst)
			}
			if so.TxDrops[ReasonQueueFull] != 0 || so.TxFrames != 2+DefaultStormBurst+n {
				t.Errorf("spaceos: queue_full %d, sent %d; want 0, %d", so.TxDrops[ReasonQueueFull], so.TxFrames, 2+DefaultStormBurst+n)
			}
		})
	}
}

// TestAttackMACFlood: 100,000 random source MACs from the camera port
// cannot fill the table: processor <-> spaceos unicast is never seen by
// the camera.
func TestAttackMACFlood(t *testing.T) {
	clk, s, all := tenantLAN(t, 0)
	cam, proc, os := all[0], all[1], all[2]
	rng := rand.New(rand.NewPCG(1, 2))
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = make([]byte, 60)
	}
	const flood = 100_000
	for sent := 0; sent < flood; sent += len(batch) {
		k := min(len(batch), flood-sent)
		for _, f := range batch[:k] {
			var dst, src wire.MAC
			for i := range 6 {
				dst[i], src[i] = byte(rng.Uint32()), byte(rng.Uint32())
			}
			dst[0] &^= 1
			src[0] &^= 1
			copy(f, dst[:])
			copy(f[6:], src[:])
			f[12], f[13] = 0x88, 0xb5
		}
		if n, err := cam.Send(batch[:k]); n != k || err != nil {
			t.Fatalf("camera Send = %d, %v", n, err)
		}
	}
	// Whatever of the flood passed reached both victims alike. Then
	// they speak, for the first time.
	for _, v := range []*MemNIC{proc, os} {
		drain(t, v, queued(t, s, v.p.name)[0])
	}
	hellos(t, clk, all, 1, 2)
	if seen := exchange(t, s, proc, os, 10_000); seen != 0 {
		t.Errorf("camera was given %d of the 20,000 processor <-> spaceos frames; want 0", seen)
	}
	sc, _ := s.Port("camera")
	if sc.RxFrames != 1+flood || sc.RxDrops[ReasonSpoofedMAC] != flood {
		t.Errorf("camera: rx %d, spoofed_mac %d; want %d, %d (sticky: only its own MAC)", sc.RxFrames, sc.RxDrops[ReasonSpoofedMAC], 1+flood, flood)
	}
	if st := s.Stats(); st.MACs != 3 {
		t.Errorf("table holds %d MACs; want the 3 tenants'", st.MACs)
	}
}

// TestAttackMACSpoof: the camera sends with processor's MAC between each
// of 4000 frames spaceos sends to processor: it hijacks none of them.
func TestAttackMACSpoof(t *testing.T) {
	_, s, all := tenantLAN(t, 0, 1, 2)
	cam, proc, os := all[0], all[1], all[2]
	const n = 4000
	got := 0
	for i := range n {
		send(t, cam, eth(macOS, macProc, 0x0806, nil, 60))
		send(t, os, eth(macProc, macOS, 0x0800, []byte{byte(i)}, 60))
		for _, f := range drain(t, proc, queued(t, s, "processor")[0]) {
			if f[14] != byte(got) {
				t.Fatalf("processor frame %d carries %d", got, f[14])
			}
			got++
		}
	}
	sc, _ := s.Port("camera")
	if hijacked := sc.TxFrames + uint64(sc.Queued) - 2; hijacked != 0 || got != n {
		t.Errorf("camera hijacked %d of %d frames, processor got %d; want 0, %d", hijacked, n, got, n)
	}
	if sc.RxDrops[ReasonMACTaken] != n {
		t.Errorf("camera mac_taken %d; want %d (processor's MAC is locked to its port)", sc.RxDrops[ReasonMACTaken], n)
	}
	if so, _ := s.Port("spaceos"); so.TxFrames != 2 {
		t.Errorf("spaceos was given %d frames; want the 2 broadcasts", so.TxFrames)
	}
}

// TestAttackSocketModes: with umask 000, the LAN's sockets are 0600 and a
// directory it creates 0700; the pcap file is 0600. An existing
// directory others may write to, or owned by another user, is refused.
func TestAttackSocketModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	top := t.TempDir()
	dir := filepath.Join(top, "lan")
	conf := "[[port]]\nname = \"a\"\ntenant = \"t\"\nkind = \"qemu-stream\"\npath = \"" + dir + "/a.sock\"\n" +
		"[[port]]\nname = \"b\"\ntenant = \"t\"\nkind = \"qemu-dgram\"\npath = \"" + dir + "/b.sock\"\n"
	c, err := ParseConfig("modes.toml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(c, filepath.Join(top, "lan.pcap"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"lan": 0o700, "lan/a.sock": 0o600, "lan/b.sock": 0o600, "lan.pcap": 0o600} {
		fi, err := os.Lstat(filepath.Join(top, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o; want %04o", name, got, want)
		}
	}
	l.Close()

	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(c, "", nil); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("Open with a 0777 socket directory: %v; want refused", err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(c, "", nil); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Errorf("Open with another user's socket directory: %v; want refused", err)
		}
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	c2, err := ParseConfig("link.toml", []byte("[[port]]\nname = \"a\"\ntenant = \"t\"\nkind = \"qemu-stream\"\npath = \""+link+"/a.sock\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(c2, "", nil); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Open with a symlinked socket directory: %v; want refused", err)
	}
}
