package endpoint

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"spacenet/internal/netnstest"
	"spacenet/ip/nic"
)

// BenchmarkAnswer measures Answer alone on each golden request: decoding,
// checks, checksums and the answer written in place.
func BenchmarkAnswer(b *testing.B) {
	for _, c := range goldenCases {
		b.Run(c.name, func(b *testing.B) {
			e, _, _ := newEndpoint(b, Config{UDP: Echo})
			req := unhex(b, c.request)
			buf := make([]byte, 1522)
			b.ReportAllocs()
			for b.Loop() {
				n := copy(buf, req)
				if e.Answer(buf, n) == 0 {
					b.Fatal("no answer")
				}
			}
		})
	}
}

// blastEnv makes this test binary a UDP sender (see TestMain): "dst size
// duration" sends datagrams of size bytes to dst as fast as the socket
// takes them for duration, counts the echoes, and prints
// "sent N received M seconds S".
const blastEnv = "SPACENET_ENDPOINT_UDP_BLAST"

func udpBlast(spec string) int {
	f := strings.Fields(spec)
	if len(f) != 3 {
		fmt.Println("bad spec", spec)
		return 2
	}
	size, _ := strconv.Atoi(f[1])
	d, _ := time.ParseDuration(f[2])
	c, err := net.Dial("udp", f[0])
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	uc := c.(*net.UDPConn)
	uc.SetReadBuffer(8 << 20)
	received := make(chan int)
	go func() {
		buf := make([]byte, 65536)
		n := 0
		for {
			if _, err := uc.Read(buf); err != nil {
				received <- n
				return
			}
			n++
		}
	}()
	msg := make([]byte, size)
	sent := 0
	start := time.Now()
	for time.Since(start) < d {
		for range 64 {
			if _, err := uc.Write(msg); err == nil {
				sent++
			}
		}
	}
	elapsed := time.Since(start)
	// Let the last echoes arrive, then stop the reader.
	uc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	n := <-received
	fmt.Printf("sent %d received %d seconds %.6f\n", sent, n, elapsed.Seconds())
	return 0
}

// BenchmarkTAPEcho is the UDP echo endpoint on a TAP against a kernel UDP
// sender in a network namespace, for 2 s per payload size. It runs once
// whatever b.N (ns/op is the whole run); the figures are the metrics:
// datagrams the kernel sent, the endpoint answered, and the kernel got
// back, per second, and the echoed payload in Gbit/s.
func BenchmarkTAPEcho(b *testing.B) { benchEcho(b, tapNet) }

// BenchmarkAFPacketEcho is BenchmarkTAPEcho over AF_PACKET on a veth pair.
func BenchmarkAFPacketEcho(b *testing.B) { benchEcho(b, vethNet) }

func benchEcho(b *testing.B, mk func(testing.TB, byte) (*kernelNet, nic.NIC)) {
	for _, size := range []int{64, 1400} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			k, n := mk(b, 3)
			e, err := New(n, Config{MAC: usMAC, IPv4: k.our4, IPv6: k.our6, UDP: Echo, Batch: 64})
			if err != nil {
				b.Fatal(err)
			}
			stop := runEndpoint(b, e)
			defer stop()
			// Resolve first so that the blast does not wait on ARP.
			netnstest.Run(b, "ip", "netns", "exec", k.ns, "ping", "-c", "1", "-W", "2", k.our4.Addr().String())
			for b.Loop() {
				before := e.Stats().UDPAnswered
				cmd := exec.Command("ip", "netns", "exec", k.ns, os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d 2s", blastEnv, k.our4.Addr().String()+":7", size))
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("sender: %v\n%s", err, out)
				}
				var sent, got int
				var secs float64
				sc := bufio.NewScanner(strings.NewReader(string(out)))
				for sc.Scan() {
					if _, err := fmt.Sscanf(sc.Text(), "sent %d received %d seconds %f", &sent, &got, &secs); err == nil {
						break
					}
				}
				if secs == 0 {
					b.Fatalf("sender said %q", out)
				}
				answered := e.Stats().UDPAnswered - before
				b.ReportMetric(float64(sent)/secs, "sent-pkt/s")
				b.ReportMetric(float64(answered)/secs, "echoed-pkt/s")
				b.ReportMetric(float64(got)/secs, "returned-pkt/s")
				b.ReportMetric(float64(answered)*float64(size)*8/secs/1e9, "echoed-Gbit/s")
			}
		})
	}
}
