package nic

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// qemuMAC is the guest NIC's MAC in the tests with a real QEMU.
var qemuMAC = [6]byte{0x52, 0x54, 0x00, 0x53, 0x4e, 0x01}

// startQEMU runs a diskless QEMU whose virtio-net NIC uses netdev and whose
// firmware (iPXE) network-boots: it sends DHCP discovers, and a DHCP
// request once it gets an offer. When QEMU exits, x is closed so that a
// waiting Recv fails; the test kills QEMU at its end.
func startQEMU(t *testing.T, x NIC, netdev string) {
	t.Helper()
	bin, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	cmd := exec.Command(bin, "-machine", "pc,accel=tcg", "-m", "64", "-nodefaults",
		"-display", "none", "-serial", "none", "-monitor", "none", "-boot", "n",
		"-netdev", netdev,
		"-device", "virtio-net-pci,netdev=n0,mac=52:54:00:53:4e:01")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		x.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("qemu %s: %s", netdev, stderr.Bytes())
		}
	})
}

// dhcpType returns the DHCP message type (option 53) of an IPv4/UDP/BOOTP
// frame from the guest, or 0.
func dhcpType(f []byte) byte {
	if len(f) < 14+20+8+240 || [6]byte(f[6:12]) != qemuMAC || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[23] != 17 {
		return 0
	}
	ihl := int(f[14]&0xf) * 4
	udp := f[14+ihl:]
	if len(udp) < 8+240 || binary.BigEndian.Uint16(udp[2:]) != 67 {
		return 0
	}
	opts := udp[8+240:]
	for len(opts) >= 2 && opts[0] != 255 {
		if opts[0] == 0 {
			opts = opts[1:]
			continue
		}
		if opts[0] == 53 && opts[1] == 1 && len(opts) >= 3 {
			return opts[2]
		}
		opts = opts[2+int(opts[1]):]
	}
	return 0
}

// dhcpOffer builds a DHCP offer of 10.235.0.10 from 10.235.0.1 answering
// the discover disc.
func dhcpOffer(disc []byte) []byte {
	server, client := netip.MustParseAddr("10.235.0.1").As4(), netip.MustParseAddr("10.235.0.10").As4()
	ihl := int(disc[14]&0xf) * 4
	bootp := disc[14+ihl+8:]
	b := make([]byte, 240, 300)
	b[0], b[1], b[2] = 2, 1, 6       // BOOTREPLY, Ethernet, hlen
	copy(b[4:8], bootp[4:8])         // xid
	copy(b[16:20], client[:])        // yiaddr
	copy(b[20:24], server[:])        // siaddr
	copy(b[28:44], bootp[28:44])     // chaddr
	copy(b[236:240], bootp[236:240]) // magic cookie
	b = append(b, 53, 1, 2)          // DHCPOFFER
	b = append(b, 54, 4)             // server identifier
	b = append(b, server[:]...)      //
	b = append(b, 1, 4, 255, 255, 255, 0)
	b = append(b, 51, 4, 0, 0, 0x0e, 0x10) // lease 3600 s
	b = append(b, 60, 9)                   // "PXEClient": no proxyDHCP wait
	b = append(b, "PXEClient"...)
	b = append(b, 255)

	f := make([]byte, 0, 14+20+8+len(b))
	f = append(f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	f = append(f, testMAC[:]...)
	f = append(f, 0x08, 0x00)
	ip := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(b)))
	ip = append(ip, server[:]...)
	ip = append(ip, 255, 255, 255, 255)
	binary.BigEndian.PutUint16(ip[10:], ^fold(checksum(ip, 0)))
	f = append(f, ip...)
	udp := []byte{0, 67, 0, 68, 0, 0, 0, 0} // checksum 0: none
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(b)))
	f = append(f, udp...)
	return append(f, b...)
}

// qemuDHCP receives the guest's DHCP discover (QEMU to us), answers with
// an offer and waits for the guest's DHCP request (us to QEMU and back).
func qemuDHCP(t *testing.T, x NIC) {
	t.Helper()
	disc := recvUntil(t, x, "DHCP discover from QEMU", func(f []byte) bool { return dhcpType(f) == 1 })
	if [6]byte(disc[0:6]) != [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} {
		t.Errorf("discover to % x; want broadcast", disc[0:6])
	}
	offer := dhcpOffer(disc)
	if n, err := x.Send([][]byte{offer}); n != 1 || err != nil {
		t.Fatalf("Send offer = %d, %v", n, err)
	}
	recvUntil(t, x, "DHCP request from QEMU", func(f []byte) bool { return dhcpType(f) == 3 })
}

func TestQEMURealStream(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU firmware: not in -short")
	}
	l, path := listenStream(t)
	watchdog(t, l, 40*time.Second)
	startQEMU(t, l, "stream,id=n0,server=off,addr.type=unix,addr.path="+path)
	qemuDHCP(t, l)
	if s := l.Stats(); s.RxFraming != 0 || s.TxFrames != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestQEMURealDgram(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU firmware: not in -short")
	}
	dir := t.TempDir()
	ours, vm := filepath.Join(dir, "sn.sock"), filepath.Join(dir, "vm.sock")
	l := listenDgram(t, ours, vm)
	watchdog(t, l, 40*time.Second)
	startQEMU(t, l, "dgram,id=n0,local.type=unix,local.path="+vm+",remote.type=unix,remote.path="+ours)
	qemuDHCP(t, l)
	if s := l.Stats(); s.RxFraming != 0 || s.TxFrames != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestQEMURealStreamDial dials a QEMU that listens (server=on). QEMU is
// daemonized: it returns once its socket exists, so no polling is needed.
func TestQEMURealStreamDial(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU firmware: not in -short")
	}
	bin, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	dir := t.TempDir()
	path, pidfile := filepath.Join(dir, "vm.sock"), filepath.Join(dir, "qemu.pid")
	out, err := exec.Command(bin, "-machine", "pc,accel=tcg", "-m", "64", "-nodefaults",
		"-display", "none", "-serial", "none", "-monitor", "none", "-boot", "n",
		"-daemonize", "-pidfile", pidfile,
		"-netdev", "stream,id=n0,server=on,addr.type=unix,addr.path="+path,
		"-device", "virtio-net-pci,netdev=n0,mac=52:54:00:53:4e:01").CombinedOutput()
	if err != nil {
		t.Fatalf("qemu -daemonize: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidfile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	d := dialWhenListening(t, path)
	defer d.Close()
	watchdog(t, d, 40*time.Second)
	qemuDHCP(t, d)
}

// dialWhenListening dials QEMU's stream socket. QEMU gives no signal that it
// listens: the daemonized parent may exit before the socket exists, and the
// file exists before listen(2). So the dial is retried, for a bounded time,
// while it fails because nobody is there yet.
func dialWhenListening(t *testing.T, path string) *QEMUStream {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := DialQEMUStream(path)
		if err == nil {
			return d
		}
		if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
