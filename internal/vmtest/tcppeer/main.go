// Command tcppeer is the guest kernel's side of the vmtest TCP tests
// (TestGuestKernelTCPNetem): plain sockets of the guest's Linux kernel.
//
//	tcppeer listen ADDR SIZE   print "listening", accept one connection
//	tcppeer dial ADDR SIZE     connect to ADDR
//
// On the connection it sends the first SIZE bytes of the checkstream
// stream, then half-closes, while it hashes what it reads until EOF. When
// half of SIZE has arrived it prints the kernel's view of the connection:
// `ss -tino` (from /usr/bin/ss, each line prefixed "ss "; -o makes ss
// print the options ts and sack) and "tcpinfo
// OPTIONS TOTAL_RETRANS" from TCP_INFO. At the end it prints "received N
// sha256 HEX".
package main

import (
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"spacenet/internal/checkstream"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Println("tcppeer:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 3 || (args[0] != "listen" && args[0] != "dial") {
		return fmt.Errorf("usage: tcppeer listen|dial ADDR SIZE, not %q", args)
	}
	size, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil || size < 0 {
		return fmt.Errorf("SIZE %q: not a byte count", args[2])
	}
	var c net.Conn
	if args[0] == "listen" {
		l, err := net.Listen("tcp", args[1])
		if err != nil {
			return err
		}
		fmt.Println("listening")
		c, err = l.Accept()
		l.Close()
		if err != nil {
			return err
		}
	} else if c, err = net.DialTimeout("tcp", args[1], 30*time.Second); err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	tc := c.(*net.TCPConn)
	werr := make(chan error, 1)
	go func() {
		err := checkstream.Write(tc, size)
		if err == nil {
			err = tc.CloseWrite()
		}
		werr <- err
	}()
	n, sum, err := checkstream.Hash(c, size, func() { show(tc) })
	if err != nil {
		return fmt.Errorf("read after %d bytes: %w", n, err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	fmt.Printf("received %d sha256 %s\n", n, hex.EncodeToString(sum[:]))
	return nil
}

// show prints ss -tino's lines about c and its TCP_INFO.
func show(c *net.TCPConn) {
	out, err := exec.Command("/usr/bin/ss", "-tino", "dst", c.RemoteAddr().String()).CombinedOutput()
	if err != nil {
		fmt.Printf("ss failed: %v\n", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fmt.Println("ss " + l)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		fmt.Println("tcpinfo failed:", err)
		return
	}
	var info *unix.TCPInfo
	raw.Control(func(fd uintptr) { info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
	if err != nil {
		fmt.Println("tcpinfo failed:", err)
		return
	}
	fmt.Printf("tcpinfo %d %d\n", info.Options, info.Total_retrans)
}
