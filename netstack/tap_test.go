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

	"spacenet/internal/netnstest"
	"spacenet/nic"
)

var (
	kernelAddr = netip.MustParseAddr("10.99.0.1")
	stackAddr  = netip.MustParseAddr("10.99.0.2")
)

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
// kernel's TCP talks to a netstack through a TAP device.
//
//	NETSTACK_HELPER=server:PORT  accept one connection, read to EOF, reply
//	                             with the hex SHA-256, then send the payload
//	NETSTACK_HELPER=client:ADDR  connect, send the payload, half-close, and
//	                             print the hex SHA-256 the peer replies
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
	var c net.Conn
	switch mode {
	case "server":
		l, err := net.Listen("tcp4", kernelAddr.String()+":"+arg)
		if err != nil {
			return err
		}
		fmt.Println("listening") // tells the parent to connect
		c, err = l.Accept()
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
		c, err := net.DialTimeout("tcp4", arg, 10*time.Second)
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
	ipCmd("-n", nsName, "addr", "add", kernelAddr.String()+"/24", "dev", tapName)
	ipCmd("-n", nsName, "link", "set", tapName, "up")
	ipCmd("-n", nsName, "link", "set", "lo", "up")

	// Real boundary: no checksum offload, gVisor computes every checksum.
	ns := mustNew(t, Config{MAC: [6]byte{2, 0x73, 0x6e, 0, 0, 9}}, NICDevice(tap, false))
	ns.Start()
	setAddr(t, ns, stackAddr)
	ctx := ctxT(t)
	want := kernelPayload()
	wantSum := sha256.Sum256(want)

	t.Run("netstack dials kernel", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", nsName, os.Args[0], "-test.run=^TestHelperKernelPeer$")
		cmd.Env = append(os.Environ(), "NETSTACK_HELPER=server:7001")
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
}
