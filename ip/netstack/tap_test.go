package netstack

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"spacenet/internal/netnstest"
	"spacenet/ip/nic"
)

// kernelFamilies are the address families TestKernelTCPOverTAP runs over:
// the kernel's address and the netstack's on the TAP's one link. The IPv6
// prefix is a unique local one (fd00::/8); both exist only inside the
// test's own network namespace and netstack.
var kernelFamilies = []struct {
	name          string
	kernel, stack netip.Prefix
}{
	{"ipv4", netip.MustParsePrefix("10.99.0.1/24"), netip.MustParsePrefix("10.99.0.2/24")},
	{"ipv6", netip.MustParsePrefix("fd00:736e:99::1/64"), netip.MustParsePrefix("fd00:736e:99::2/64")},
}

// kernelPayload is what either side sends: deterministic, 2 MiB.
func kernelPayload() []byte {
	b := make([]byte, 2<<20)
	for i := range b {
		b[i] = byte(i ^ i>>11)
	}
	return b
}

// TestHelperKernelPeer is not a test: TestKernelTCPOverTAP re-executes
// the test binary inside a network namespace to run it, so that the Linux
// kernel's TCP talks to a netstack through a TAP device. ADDR:PORT is an
// IPv4 or a bracketed IPv6 address and port ("[fd00::1]:7001"); the
// family of ADDR picks tcp4 or tcp6.
//
//	NETSTACK_HELPER=server:ADDR:PORT  listen on ADDR:PORT, accept one
//	                                  connection, read to EOF, reply with
//	                                  the hex SHA-256, then send the payload
//	NETSTACK_HELPER=client:ADDR:PORT  connect, send the payload, half-close,
//	                                  and print the hex SHA-256 the peer
//	                                  replies
func TestHelperKernelPeer(t *testing.T) {
	mode, arg, ok := strings.Cut(os.Getenv("NETSTACK_HELPER"), ":")
	if !ok {
		t.Skip("helper for TestKernelTCPOverTAP")
	}
	if err := kernelPeer(mode, arg); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(3)
	}
}

func kernelPeer(mode, arg string) error {
	ap, err := netip.ParseAddrPort(arg)
	if err != nil {
		return fmt.Errorf("helper address %q: %w", arg, err)
	}
	network := "tcp4"
	if ap.Addr().Is6() {
		network = "tcp6"
	}
	switch mode {
	case "server":
		l, err := net.Listen(network, ap.String())
		if err != nil {
			return err
		}
		fmt.Println("listening") // tells the parent to connect
		c, err := l.Accept()
		l.Close()
		if err != nil {
			return err
		}
		h := sha256.New()
		if _, err := io.Copy(h, c); err != nil {
			return err
		}
		if _, err := c.Write([]byte(hex.EncodeToString(h.Sum(nil)))); err != nil {
			return err
		}
		if _, err := c.Write(kernelPayload()); err != nil {
			return err
		}
		return c.Close()
	case "client":
		c, err := net.DialTimeout(network, ap.String(), 10*time.Second)
		if err != nil {
			return err
		}
		if _, err := c.Write(kernelPayload()); err != nil {
			return err
		}
		c.(*net.TCPConn).CloseWrite()
		reply, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		fmt.Printf("reply %s\n", reply)
		return c.Close()
	}
	return fmt.Errorf("mode %q", mode)
}

// TestKernelTCPOverTAP runs TCP both ways, and ping, between the Linux
// kernel and a netstack over one TAP device, once per address family in
// kernelFamilies. Neighbour resolution (ARP, IPv6 neighbour discovery) is
// left to the kernel and gVisor.
func TestKernelTCPOverTAP(t *testing.T) {
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) not installed")
	}
	nsName := fmt.Sprintf("sn-ns-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", nsName).CombinedOutput(); err != nil {
		if netnstest.RefusedOutput(out) {
			t.Skipf("kernel refused a network namespace: %v: %s", err, bytes.TrimSpace(out))
		}
		t.Fatalf("ip netns add %s: %v: %s", nsName, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsName).Run() })
	tapName := fmt.Sprintf("sntap%d", os.Getpid()%100000)
	tap, err := nic.OpenTAP(tapName, nic.TAPOptions{MTU: 1500})
	netnstest.SkipIfNoTAP(t, err)
	ipCmd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ipCmd("link", "set", tapName, "netns", nsName)
	var stackAddrs []netip.Prefix
	for _, f := range kernelFamilies {
		args := []string{"-n", nsName, "addr", "add", f.kernel.String(), "dev", tapName}
		if f.kernel.Addr().Is6() {
			// No duplicate address detection: usable at once.
			args = append(args, "nodad")
		}
		ipCmd(args...)
		stackAddrs = append(stackAddrs, f.stack)
	}
	netnstest.SetUpAndWait(t, nsName, tapName, "lo")
	for _, f := range kernelFamilies {
		waitAddrUsable(t, nsName, f.kernel)
	}

	// Real boundary: no checksum offload, gVisor computes every checksum.
	ns := mustNew(t, Config{MAC: [6]byte{2, 0x73, 0x6e, 0, 0, 9}}, NICDevice(tap, false))
	ns.Start()
	ctx := ctxT(t)
	if _, err := ns.Request(ctx, SetAddrs{Addrs: stackAddrs}); err != nil {
		t.Fatal(err)
	}
	want := kernelPayload()
	wantSum := sha256.Sum256(want)

	for _, f := range kernelFamilies {
		kernelAddr, stackAddr := f.kernel.Addr(), f.stack.Addr()
		t.Run(f.name, func(t *testing.T) {
			t.Run("netstack dials kernel", func(t *testing.T) {
				cmd := exec.CommandContext(ctx, "ip", "netns", "exec", nsName, os.Args[0], "-test.run=^TestHelperKernelPeer$")
				cmd.Env = append(os.Environ(), "NETSTACK_HELPER=server:"+netip.AddrPortFrom(kernelAddr, 7001).String())
				out, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer cmd.Wait()
				line := make([]byte, len("listening\n"))
				if _, err := io.ReadFull(out, line); err != nil {
					t.Fatalf("helper did not start: %v", err)
				}
				go io.Copy(io.Discard, out)
				c, err := ns.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(kernelAddr, 7001))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap(); got != stackAddr {
					t.Fatalf("netstack dialled from %v, want %v", got, stackAddr)
				}
				if _, err := c.Write(want); err != nil {
					t.Fatal(err)
				}
				c.CloseWrite()
				got, err := io.ReadAll(c)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) < 64 || string(got[:64]) != hex.EncodeToString(wantSum[:]) {
					t.Fatalf("kernel saw a different stream (reply %.64q)", got)
				}
				if !bytes.Equal(got[64:], want) {
					t.Fatalf("netstack received %d bytes from the kernel, want %d exact", len(got)-64, len(want))
				}
			})

			t.Run("kernel dials netstack", func(t *testing.T) {
				l, err := ns.ListenTCP(netip.AddrPortFrom(stackAddr, 7002), 4)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				cmd := exec.CommandContext(ctx, "ip", "netns", "exec", nsName, os.Args[0], "-test.run=^TestHelperKernelPeer$")
				cmd.Env = append(os.Environ(), "NETSTACK_HELPER=client:"+netip.AddrPortFrom(stackAddr, 7002).String())
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				c, err := l.Accept()
				if err != nil {
					t.Fatal(err)
				}
				from := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
				got, err := io.ReadAll(c)
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(got)
				c.Write([]byte(hex.EncodeToString(sum[:])))
				c.Close()
				if err := cmd.Wait(); err != nil {
					t.Fatalf("helper: %v\n%s", err, out.String())
				}
				if from != kernelAddr {
					t.Fatalf("kernel dialled from %v, want %v", from, kernelAddr)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("netstack received %d bytes, want %d exact", len(got), len(want))
				}
				if !strings.Contains(out.String(), "reply "+hex.EncodeToString(wantSum[:])) {
					t.Fatalf("kernel got a different reply: %s", out.String())
				}
			})

			t.Run("kernel pings netstack and back", func(t *testing.T) {
				r, err := ns.Request(ctx, Ping{To: kernelAddr, Payload: []byte("to the kernel")})
				if err != nil {
					t.Fatal(err)
				}
				if p := r.(Pong); p.From != kernelAddr || p.Len != 13 {
					t.Fatalf("pong %+v", p)
				}
				out, err := exec.CommandContext(ctx, "ip", "netns", "exec", nsName, "ping", "-c", "1", "-W", "5", stackAddr.String()).CombinedOutput()
				if err != nil {
					if _, lerr := exec.LookPath("ping"); lerr != nil {
						t.Skip("ping not installed")
					}
					t.Fatalf("kernel ping: %v\n%s", err, out)
				}
			})

			t.Run("neighbours resolved by the protocol", func(t *testing.T) {
				checkNeighbours(t, ns, nsName, tapName, kernelAddr, stackAddr)
			})
		})
	}
}

// checkNeighbours checks, after traffic both ways, that each side holds a
// neighbour entry for the other with the other's real MAC address, in a
// state that only ARP or neighbour discovery leads to: the kernel's entry
// for stackAddr names the netstack's MAC and is neither permanent
// (static), incomplete nor failed; the netstack's entry for kernelAddr
// names the TAP's MAC and is neither static, incomplete nor unreachable.
func checkNeighbours(t *testing.T, ns *Netstack, nsName, tapName string, kernelAddr, stackAddr netip.Addr) {
	t.Helper()
	h, err := netns.GetFromName(nsName)
	if err != nil {
		t.Fatalf("network namespace %s: %v", nsName, err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatalf("netlink in namespace %s: %v", nsName, err)
	}
	defer nh.Close()
	link, err := nh.LinkByName(tapName)
	if err != nil {
		t.Fatalf("link %s in namespace %s: %v", tapName, nsName, err)
	}
	family := netlink.FAMILY_V4
	if stackAddr.Is6() {
		family = netlink.FAMILY_V6
	}
	neighs, err := nh.NeighList(link.Attrs().Index, family)
	if err != nil {
		t.Fatalf("kernel neighbours of %s: %v", tapName, err)
	}
	found := false
	for _, n := range neighs {
		if a, ok := netip.AddrFromSlice(n.IP); !ok || a.Unmap() != stackAddr {
			continue
		}
		found = true
		if bad := n.State & (unix.NUD_PERMANENT | unix.NUD_NOARP | unix.NUD_INCOMPLETE | unix.NUD_FAILED); bad != 0 {
			t.Errorf("kernel neighbour %v: state %#x", stackAddr, n.State)
		}
		if got, want := string(n.HardwareAddr), string(ns.LinkAddress()); got != want {
			t.Errorf("kernel neighbour %v: lladdr %v, want the netstack's %v", stackAddr, n.HardwareAddr, net.HardwareAddr(want))
		}
	}
	if !found {
		t.Errorf("kernel has no neighbour entry for %v on %s: %+v", stackAddr, tapName, neighs)
	}

	entries, e := ns.Stack().Neighbors(nicID, netProto(kernelAddr))
	if e != nil {
		t.Fatalf("netstack neighbours: %s", e)
	}
	found = false
	for _, n := range entries {
		if addrTo(n.Addr) != kernelAddr {
			continue
		}
		found = true
		switch n.State {
		case stack.Static, stack.Unknown, stack.Incomplete, stack.Unreachable:
			t.Errorf("netstack neighbour %v: state %v", kernelAddr, n.State)
		}
		if got, want := string(n.LinkAddr), string(link.Attrs().HardwareAddr); got != want {
			t.Errorf("netstack neighbour %v: link address %v, want the TAP's %v", kernelAddr, n.LinkAddr, link.Attrs().HardwareAddr)
		}
	}
	if !found {
		t.Errorf("netstack has no neighbour entry for %v: %+v", kernelAddr, entries)
	}
}

// addrTimeout bounds the wait for a kernel address to become usable.
const addrTimeout = 10 * time.Second

// waitAddrUsable waits until the kernel of namespace nsName reports
// address a assigned and usable: neither tentative (duplicate address
// detection still running) nor failed. It lists the addresses as they
// are now and then follows the kernel's address updates, so it waits only
// as long as the kernel takes.
func waitAddrUsable(t testing.TB, nsName string, a netip.Prefix) {
	t.Helper()
	h, err := netns.GetFromName(nsName)
	if err != nil {
		t.Fatalf("network namespace %s: %v", nsName, err)
	}
	defer h.Close()
	ch := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	if err := netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{Namespace: &h, ListExisting: true}); err != nil {
		t.Fatalf("netlink address subscription in namespace %s: %v", nsName, err)
	}
	defer func() {
		close(done)
		for range ch { // until the subscription's goroutine has exited
		}
	}()
	timeout := time.NewTimer(addrTimeout)
	defer timeout.Stop()
	last := "not listed"
	for {
		select {
		case u, ok := <-ch:
			if !ok {
				t.Fatalf("netlink address subscription in namespace %s closed", nsName)
			}
			ua, ok := netip.AddrFromSlice(u.LinkAddress.IP)
			if !ok || ua.Unmap() != a.Addr() {
				continue
			}
			if !u.NewAddr {
				last = "deleted"
				continue
			}
			if u.Flags&unix.IFA_F_DADFAILED != 0 {
				t.Fatalf("kernel address %v in namespace %s: duplicate address detection failed (flags %#x)", a, nsName, u.Flags)
			}
			if u.Flags&unix.IFA_F_TENTATIVE == 0 {
				return
			}
			last = fmt.Sprintf("tentative (flags %#x)", u.Flags)
		case <-timeout.C:
			t.Fatalf("kernel address %v in namespace %s not usable after %v: %s", a, nsName, addrTimeout, last)
		}
	}
}
