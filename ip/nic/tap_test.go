package nic

import (
	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"spacenet/internal/netnstest"
)

// openTAP opens a TAP or skips the test if the kernel refuses.
func openTAP(t *testing.T, name string, opts TAPOptions) *TAP {
	t.Helper()
	tap, err := OpenTAP(name, opts)
	netnstest.SkipIfNoTAP(t, err)
	return tap
}

// TestTAPKernel moves a TAP into a fresh netns, gives the kernel side an
// address and has the kernel send a UDP datagram to a neighbour that does
// not exist yet: the kernel asks for it with ARP, we answer, the kernel
// sends the datagram (whose checksum it may leave to us with VnetHdr) and
// lists our MAC in its neighbour table.
func TestTAPKernel(t *testing.T) {
	for _, vnet := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "vnethdr"}[vnet], func(t *testing.T) {
			ns := netnstest.NewNetns(t, "sn-nic-")
			tap := openTAP(t, netnstest.UniqueName("snt"), TAPOptions{VnetHdr: vnet})
			defer tap.Close()
			watchdog(t, tap, 20*time.Second)
			if tap.MTU() != 1500 {
				t.Errorf("MTU %d; want 1500", tap.MTU())
			}
			kernelIP, ourIP := netip.MustParseAddr("10.231.0.1"), netip.MustParseAddr("10.231.0.2")
			netnstest.Run(t, "ip", "link", "set", tap.Name(), "netns", ns)
			netnstest.Run(t, "ip", "-n", ns, "addr", "add", kernelIP.String()+"/24", "dev", tap.Name())
			netnstest.SetUpAndWait(t, ns, tap.Name())
			netnstest.Run(t, "ip", "netns", "exec", ns, "bash", "-c", "echo hello > /dev/udp/"+ourIP.String()+"/9999")

			req := recvUntil(t, tap, "ARP request", func(f []byte) bool { return isARPRequest(f, ourIP) })
			kernelMAC := checkARPRequest(t, req, kernelIP, ourIP)
			if n, err := tap.Send([][]byte{arpReply(testMAC, kernelMAC, ourIP, kernelIP)}); n != 1 || err != nil {
				t.Fatalf("Send ARP reply = %d, %v", n, err)
			}
			udp := recvUntil(t, tap, "UDP datagram", func(f []byte) bool { return isUDPTo(f, ourIP, 9999) })
			if [6]byte(udp[0:6]) != testMAC || [6]byte(udp[6:12]) != kernelMAC {
				t.Errorf("UDP frame MACs % x -> % x; want % x -> % x", udp[6:12], udp[0:6], kernelMAC, testMAC)
			}
			checkUDP(t, udp, "hello\n")
			neigh := netnstest.Run(t, "ip", "-n", ns, "neigh", "show", ourIP.String())
			if want := "lladdr 02:53:4e:00:00:01"; !strings.Contains(neigh, want) {
				t.Errorf("ip neigh: %q; want it to contain %q", neigh, want)
			}
			s := tap.Stats()
			if s.TxFrames != 1 || s.TxBytes != 60 || s.RxFrames < 2 || s.RxTooBig+s.RxFraming+s.RxBadCsum+s.RxGSO != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestTAPCloseUnblocks(t *testing.T) {
	tap := openTAP(t, "", TAPOptions{})
	if !strings.HasPrefix(tap.Name(), "tap") {
		t.Errorf("kernel-chosen name %q", tap.Name())
	}
	errs := make(chan error)
	go func() {
		_, err := tap.Recv(makeBufs(4, 1514))
		errs <- err
	}()
	if err := tap.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Errorf("Recv after Close = %v; want ErrClosed", err)
	}
	if _, err := tap.Send([][]byte{make([]byte, 60)}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v; want ErrClosed", err)
	}
}

func TestTAPErrors(t *testing.T) {
	tap := openTAP(t, netnstest.UniqueName("snt"), TAPOptions{MTU: 1280, VnetHdr: true})
	defer tap.Close()
	if tap.MTU() != 1280 {
		t.Errorf("MTU %d; want 1280", tap.MTU())
	}
	// The device is down: the kernel refuses the frame.
	n, err := tap.Send([][]byte{make([]byte, 60)})
	if n != 0 || !errors.Is(err, unix.EIO) || !strings.Contains(err.Error(), tap.Name()) {
		t.Errorf("Send on a down TAP = %d, %v; want EIO naming the device", n, err)
	}
	n, err = tap.Send([][]byte{make([]byte, 1280+15)})
	if n != 0 || !errors.Is(err, ErrTooBig) {
		t.Errorf("Send too big = %d, %v", n, err)
	}
	if s := tap.Stats(); s.TxErrors != 1 || s.TxTooBig != 1 {
		t.Errorf("stats %+v", s)
	}

	for _, tc := range []struct{ name, want string }{
		{"lo", `nic: open tap "lo": TUNSETIFF: invalid argument`},
		{"abcdefghijklmnop", `nic: open tap "abcdefghijklmnop": name longer than 15 bytes`},
		{tap.Name(), `nic: open tap "` + tap.Name() + `": TUNSETIFF: device or resource busy`},
	} {
		_, err := OpenTAP(tc.name, TAPOptions{})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("OpenTAP(%q) = %v; want prefix %q", tc.name, err, tc.want)
		}
	}
}

func TestTAPUp(t *testing.T) {
	tap := openTAP(t, netnstest.UniqueName("snt"), TAPOptions{Up: true})
	defer tap.Close()
	out, err := exec.Command("ip", "link", "show", tap.Name()).CombinedOutput()
	if err != nil {
		t.Skipf("ip link: %v", err)
	}
	if !strings.Contains(string(out), ",UP") {
		t.Errorf("ip link show: %s; want UP", out)
	}
}
