package lan

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"spacenet/internal/netnstest"
	"spacenet/ip/nic"
)

// passTAPInNetns is tapInNetns for a TAP opened with pass-through (GSO
// super-frames cross the switch whole).
func passTAPInNetns(t *testing.T, s *Switch, ns, name string, addr netip.Prefix) {
	t.Helper()
	tap, err := nic.OpenTAP(netnstest.UniqueName("snlg"), nic.TAPOptions{PassThrough: true})
	netnstest.SkipIfNoTAP(t, err)
	if !tap.VnetPassThrough() {
		t.Fatal("VnetPassThrough false on a TAP opened with PassThrough")
	}
	netnstest.Run(t, "ip", "link", "set", tap.Name(), "netns", ns)
	netnstest.In(t, ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
	netnstest.In(t, ns, "ip", "addr", "add", addr.String(), "dev", tap.Name())
	netnstest.SetUpAndWait(t, ns, "lo", tap.Name())
	if err := s.Attach(tap, PortConfig{Name: name, Tenant: "t"}); err != nil {
		tap.Close()
		t.Fatal(err)
	}
}

// inNetns runs fn on an OS thread switched into network namespace ns, so
// that the sockets fn creates live there; the thread is thrown away after.
func inNetns(ns string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			done <- err
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			done <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

// checkTCPFrame verifies the IPv4 header checksum and the TCP checksum of
// an Ethernet/IPv4/TCP frame and returns the TCP payload length.
func checkTCPFrame(f []byte) (int, error) {
	ip := f[14:]
	ihl := int(ip[0]&0xf) * 4
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if tot != len(ip) {
		return 0, fmt.Errorf("IPv4 total length %d, frame carries %d", tot, len(ip))
	}
	if onesSum(ip[:ihl], 0) != 0xffff {
		return 0, errors.New("bad IPv4 header checksum")
	}
	tcp := ip[ihl:]
	pseudo := onesAdd(ip[12:20], 0) + 6 + uint64(len(tcp))
	if onesSum(tcp, pseudo) != 0xffff {
		return 0, errors.New("bad TCP checksum")
	}
	return len(tcp) - int(tcp[12]>>4)*4, nil
}

func onesAdd(b []byte, sum uint64) uint64 {
	for ; len(b) >= 2; b = b[2:] {
		sum += uint64(binary.BigEndian.Uint16(b))
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

func onesSum(b []byte, sum uint64) uint16 {
	sum = onesAdd(b, sum)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// TestPassThroughKernel: two network namespaces on pass-through TAP ports
// move 48 MiB over kernel TCP through the switch; the bytes arrive
// exactly (SHA-256 on both sides), the TAP port carried super-frames
// (more than 1514 bytes a frame on average) and nothing was dropped. In
// flood mode a third port, a nic.Pipe without pass-through, sees every
// frame too: the super-frames cut into frames of at most 1514 bytes with
// correct IPv4 and TCP checksums.
func TestPassThroughKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("kernel test: not in -short")
	}
	for _, flood := range []bool{false, true} {
		t.Run(map[bool]string{false: "learned", true: "flood+pipe"}[flood], func(t *testing.T) {
			nsA, nsB := netnstest.NewNetns(t, "sn-lgp-"), netnstest.NewNetns(t, "sn-lgp-")
			s := New(Options{FloodOnly: flood})
			defer s.Close()
			ipA, ipB := netip.MustParsePrefix("10.76.0.1/24"), netip.MustParsePrefix("10.76.0.2/24")
			passTAPInNetns(t, s, nsA, "a", ipA)
			passTAPInNetns(t, s, nsB, "b", ipB)

			var (
				wg                         sync.WaitGroup
				cut, cutMax, cutBytes, bad int
				firstBad                   error
			)
			if flood {
				x, y := nic.NewPipe(1500, 4096)
				if err := s.Attach(x, PortConfig{Name: "pipe", Tenant: "t"}); err != nil {
					t.Fatal(err)
				}
				defer y.Close()
				wg.Add(1)
				go func() {
					defer wg.Done()
					bufs, sizes := make([][]byte, 64), make([]int, 64)
					for i := range bufs {
						bufs[i] = make([]byte, 1514)
					}
					for {
						n, err := y.Recv(bufs, sizes)
						for i := range n {
							f := bufs[i][:sizes[i]]
							cutMax = max(cutMax, len(f))
							if len(f) < 34 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[23] != 6 {
								continue
							}
							k, err := checkTCPFrame(f)
							if err != nil {
								bad++
								firstBad = firstErr(firstBad, err)
								continue
							}
							cut++
							cutBytes += k
						}
						if err != nil {
							return
						}
					}
				}()
			}

			const size = 48 << 20
			var ln net.Listener
			if err := inNetns(nsB, func() (err error) {
				ln, err = net.Listen("tcp4", ipB.Addr().String()+":7000")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan [32]byte, 1)
			gotN := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					gotN <- -1
					got <- [32]byte{}
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				h := sha256.New()
				n, _ := io.Copy(h, c)
				gotN <- n
				got <- [32]byte(h.Sum(nil))
			}()
			var c net.Conn
			if err := inNetns(nsA, func() (err error) {
				c, err = net.DialTimeout("tcp4", ipB.Addr().String()+":7000", 10*time.Second)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(60 * time.Second))
			data := make([]byte, size)
			rand.NewChaCha8([32]byte{1, 2, 3}).Read(data)
			want := sha256.Sum256(data)
			if _, err := c.Write(data); err != nil {
				t.Fatal(err)
			}
			c.Close()
			if n := <-gotN; n != size {
				t.Fatalf("received %d bytes; want %d", n, size)
			}
			if h := <-got; !bytes.Equal(h[:], want[:]) {
				t.Fatalf("SHA-256 of received data %x; want %x", h, want)
			}

			// A TAP counts a frame once its write(2) returns, which can be
			// just after the receiver already has the bytes.
			waitFor(t, "port b to count what it sent", func() bool {
				sb, _ := s.Port("b")
				return sb.TxBytes >= size
			})
			sa, _ := s.Port("a")
			sb, _ := s.Port("b")
			for _, p := range []PortStats{sa, sb} {
				if p.RxDrops != ([NumReasons]uint64{}) || p.TxDrops != ([NumReasons]uint64{}) {
					t.Errorf("port %s: rx drops %v tx drops %v; want none", p.Name, p.RxDrops, p.TxDrops)
				}
			}
			if sb.TxFrames == 0 || sb.TxBytes/sb.TxFrames <= 1514 {
				t.Errorf("port b sent %d frames, %d bytes: no super-frames crossed", sb.TxFrames, sb.TxBytes)
			}
			if sb.TxBytes < size {
				t.Errorf("port b sent %d bytes; want at least the %d of data", sb.TxBytes, size)
			}
			t.Logf("b: %d frames, %d bytes out (%d a frame)", sb.TxFrames, sb.TxBytes, sb.TxBytes/sb.TxFrames)
			if !flood {
				return
			}
			sp, _ := s.Port("pipe")
			s.Detach("pipe")
			wg.Wait()
			drops := sp.TxDrops
			drops[ReasonQueueFull] = 0 // the checker may fall behind
			if drops != ([NumReasons]uint64{}) {
				t.Errorf("pipe port: tx drops %v; want none but queue_full", sp.TxDrops)
			}
			if bad > 0 {
				t.Errorf("%d frames cut for the pipe port have bad checksums (first: %v)", bad, firstBad)
			}
			if cut == 0 || cutMax > 1514 {
				t.Errorf("pipe port: %d TCP frames, longest %d bytes; want some, none over 1514", cut, cutMax)
			}
			t.Logf("pipe: %d TCP frames checked, %d payload bytes, longest %d", cut, cutBytes, cutMax)
		})
	}
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
