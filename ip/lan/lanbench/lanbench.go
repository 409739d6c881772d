// Package lanbench measures the virtual LAN against baselines in the same
// run: frames/s between two in-process ports of a lan.Switch against a bare
// nic.Pipe, and kernel traffic (iperf3 TCP and 64-byte UDP) between two
// network namespaces joined by TAP ports of our switch against the same
// namespaces joined by veth pairs and a Linux bridge. `spacenet bench lan`
// and the package's Go benchmarks call it.
//
// It is not a test: it asserts nothing, it measures. The kernel part needs
// root, iproute2 and iperf3.
package lanbench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"spacenet/ip/lan"
	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

// Rate is a measured frame rate.
type Rate struct {
	Frames  uint64
	Bytes   uint64
	Elapsed time.Duration
}

// FPS returns frames per second.
func (r Rate) FPS() float64 { return float64(r.Frames) / r.Elapsed.Seconds() }

// Gbps returns payload bits per second / 1e9.
func (r Rate) Gbps() float64 { return float64(r.Bytes) * 8 / r.Elapsed.Seconds() / 1e9 }

// frame returns a frame of size bytes (at least wire.EthernetSize) from
// src to dst, of the local experimental EtherType 0x88b5.
func frame(dst, src wire.MAC, size int) []byte {
	f := make([]byte, size)
	wire.Ethernet(f).Encode(&wire.EthernetFields{Dst: dst, Src: src, EtherType: 0x88b5})
	return f
}

// Mem forwards frames of size bytes from one in-process port of a fresh
// switch to another for about d, 64 per call, sender and receiver in one
// goroutine (one core's forwarding rate; nothing is dropped).
func Mem(size int, d time.Duration) (Rate, error) {
	s := lan.New(lan.Options{})
	defer s.Close()
	a, err := s.AttachPipe("a", "t")
	if err != nil {
		return Rate{}, err
	}
	b, err := s.AttachPipe("b", "t")
	if err != nil {
		return Rate{}, err
	}
	ma, mb := wire.LocalMAC(1), wire.LocalMAC(2)
	bufs, sizes := make([][]byte, 64), make([]int, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 1514)
	}
	// Teach the switch where B is.
	if _, err := b.Send([][]byte{frame(wire.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mb, 60)}); err != nil {
		return Rate{}, err
	}
	if _, err := a.Recv(bufs, sizes); err != nil {
		return Rate{}, err
	}
	frames := make([][]byte, 64)
	for i := range frames {
		frames[i] = frame(mb, ma, size)
	}
	return lockstep(a, b, frames, bufs, sizes, d)
}

// PipeBaseline moves the same frames over a bare nic.Pipe (a cable, no
// switch) the same way: the baseline for Mem.
func PipeBaseline(size int, d time.Duration) (Rate, error) {
	a, b := nic.NewPipe(1500, 256)
	defer a.Close()
	bufs, sizes := make([][]byte, 64), make([]int, 64)
	frames := make([][]byte, 64)
	for i := range frames {
		bufs[i] = make([]byte, 1514)
		frames[i] = frame(wire.LocalMAC(2), wire.LocalMAC(1), size)
	}
	return lockstep(a, b, frames, bufs, sizes, d)
}

func lockstep(a, b nic.NIC, frames, bufs [][]byte, sizes []int, d time.Duration) (Rate, error) {
	var r Rate
	start := time.Now()
	for i := 0; ; i++ {
		if i%64 == 0 && time.Since(start) >= d {
			break
		}
		if _, err := a.Send(frames); err != nil {
			return r, err
		}
		for got := 0; got < len(frames); {
			n, err := b.Recv(bufs, sizes)
			if err != nil {
				return r, err
			}
			for _, s := range sizes[:n] {
				r.Bytes += uint64(s)
			}
			got += n
		}
		r.Frames += uint64(len(frames))
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// Kernel is the result of one kernel path (our switch or the bridge).
type Kernel struct {
	TCPGbps float64 // iperf3 TCP, receiver's rate
	UDPpps  float64 // iperf3 UDP with 64-byte frames, datagrams received per second
	UDPLoss float64 // share of those datagrams lost
	// UDPLoss100k is the share lost when the same 64-byte frames are
	// offered at 100 000 frames/s (below both paths' saturation on two
	// cores): whether the path keeps up without loss.
	UDPLoss100k float64
	// Ports are our switch's port counters at the end (Ours only): where
	// frames were lost inside the switch, if anywhere.
	Ports []lan.PortStats
}

var seq atomic.Int32

func unique(prefix string) string {
	return fmt.Sprintf("%s%d%c", prefix, os.Getpid()%100000, 'a'+rune(seq.Add(1)%26))
}

type env struct {
	cleanup []func()
}

// ErrSetup wraps errors setting up namespaces, TAPs, veths and bridges:
// the kernel (or a missing tool) refused.
var ErrSetup = errors.New("lanbench: setup refused")

func (e *env) run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s: %v: %s", ErrSetup, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (e *env) netns() (string, error) {
	ns := unique("sn-lb-")
	if err := e.run("ip", "netns", "add", ns); err != nil {
		return "", err
	}
	e.cleanup = append(e.cleanup, func() { exec.Command("ip", "netns", "del", ns).Run() })
	return ns, nil
}

// inNS configures interface ifname, already in ns, with addr and up.
func (e *env) inNS(ns, ifname, addr string) error {
	for _, c := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"},
		{"ip", "addr", "add", addr, "dev", ifname},
		{"ip", "link", "set", ifname, "up"},
	} {
		if err := e.run(append([]string{"ip", "netns", "exec", ns}, c...)...); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) close() {
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		e.cleanup[i]()
	}
}

const (
	addrA = "10.78.0.1/24"
	addrB = "10.78.0.2/24"
	ipB   = "10.78.0.2"
)

// Ours measures iperf3 between two namespaces, each attached by a TAP port
// to a lan.Switch in this process, for d per test. The TAPs are opened
// with nic.TAPOptions.PassThrough: GSO super-frames cross the switch whole.
func Ours(d time.Duration) (Kernel, error) { return OursTAP(d, true) }

// OursTAP is Ours with the TAPs' pass-through on or off (off: super-frames
// are cut in package nic, each frame crosses alone, as before GSO).
func OursTAP(d time.Duration, passThrough bool) (Kernel, error) {
	e := &env{}
	defer e.close()
	s := lan.New(lan.Options{QueueDepth: 1024})
	defer s.Close()
	nss, err := e.ours(s, passThrough)
	if err != nil {
		return Kernel{}, err
	}
	k, err := iperf(nss[0], nss[1], d)
	k.Ports = s.Ports()
	return k, err
}

// ours makes two namespaces, each with a TAP whose fd s owns, addressed
// addrA and addrB.
func (e *env) ours(s *lan.Switch, passThrough bool) ([2]string, error) {
	taps, nss, err := e.tapPair("snlb", passThrough)
	if err != nil {
		return nss, err
	}
	for i, tap := range taps {
		if err := s.Attach(tap, lan.PortConfig{Name: nss[i], Tenant: "t"}); err != nil {
			for _, t := range taps[i:] {
				t.Close()
			}
			return nss, err
		}
	}
	return nss, nil
}

// tapPair makes two namespaces, each with a TAP (name prefix, opened with
// pass-through on or off) moved into it and addressed addrA and addrB.
// The caller owns the TAPs' fds; on error they are closed.
func (e *env) tapPair(prefix string, passThrough bool) (taps [2]*nic.TAP, nss [2]string, err error) {
	defer func() {
		if err != nil {
			for _, t := range taps {
				if t != nil {
					t.Close()
				}
			}
		}
	}()
	for i, addr := range []string{addrA, addrB} {
		if nss[i], err = e.netns(); err != nil {
			return taps, nss, err
		}
		tap, err := nic.OpenTAP(unique(prefix), nic.TAPOptions{PassThrough: passThrough})
		if err != nil {
			return taps, nss, fmt.Errorf("%w: %v", ErrSetup, err)
		}
		taps[i] = tap
		if err := e.run("ip", "link", "set", tap.Name(), "netns", nss[i]); err != nil {
			return taps, nss, err
		}
		if err := e.inNS(nss[i], tap.Name(), addr); err != nil {
			return taps, nss, err
		}
	}
	return taps, nss, nil
}

// Bridge measures the same between two namespaces joined by veth pairs to
// a Linux bridge in a third namespace.
func Bridge(d time.Duration) (Kernel, error) {
	e := &env{}
	defer e.close()
	nss, err := e.bridge()
	if err != nil {
		return Kernel{}, err
	}
	return iperf(nss[0], nss[1], d)
}

// bridge makes two namespaces addressed addrA and addrB, joined by veth
// pairs to a Linux bridge in a third.
func (e *env) bridge() ([2]string, error) {
	var nss [2]string
	br, err := e.netns()
	if err != nil {
		return nss, err
	}
	in := func(args ...string) error { return e.run(append([]string{"ip", "netns", "exec", br}, args...)...) }
	if err := in("ip", "link", "add", "br0", "type", "bridge"); err != nil {
		return nss, err
	}
	if err := in("ip", "link", "set", "br0", "up"); err != nil {
		return nss, err
	}
	for i, addr := range []string{addrA, addrB} {
		ns, err := e.netns()
		if err != nil {
			return nss, err
		}
		nss[i] = ns
		host, peer := unique("snlv"), unique("snlv")
		if err := in("ip", "link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns); err != nil {
			return nss, err
		}
		if err := in("ip", "link", "set", host, "master", "br0", "up"); err != nil {
			return nss, err
		}
		if err := e.inNS(ns, peer, addr); err != nil {
			return nss, err
		}
	}
	return nss, nil
}

// iperf runs an iperf3 server in b and TCP then 64-byte-frame UDP clients
// in a.
func iperf(a, b string, d time.Duration) (Kernel, error) {
	var k Kernel
	tcp, err := iperfOnce(a, b, d, "-t", secs(d))
	if err != nil {
		return k, err
	}
	k.TCPGbps = tcp.End.SumReceived.BitsPerSecond / 1e9
	// 64-byte frames: 14 Ethernet + 20 IPv4 + 8 UDP + 22 payload.
	udp, err := iperfOnce(a, b, d, "-u", "-b", "0", "-l", "22", "-t", secs(d))
	if err != nil {
		return k, err
	}
	sum := udp.End.Sum
	if sum.Seconds > 0 {
		k.UDPpps = float64(sum.Packets-sum.LostPackets) / sum.Seconds
	}
	if sum.Packets > 0 {
		k.UDPLoss = float64(sum.LostPackets) / float64(sum.Packets)
	}
	// 100 000 datagrams/s of 22 bytes: iperf3 -b counts payload bits.
	paced, err := iperfOnce(a, b, d, "-u", "-b", "17600000", "-l", "22", "-t", secs(d))
	if err != nil {
		return k, err
	}
	if sum := paced.End.Sum; sum.Packets > 0 {
		k.UDPLoss100k = float64(sum.LostPackets) / float64(sum.Packets)
	}
	return k, nil
}

// secs is d in whole seconds, at least 1 (iperf3 -t takes an integer).
func secs(d time.Duration) string { return fmt.Sprint(max(1, int(d.Round(time.Second).Seconds()))) }

type iperfResult struct {
	End struct {
		SumReceived struct {
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
		Sum struct {
			Seconds     float64 `json:"seconds"`
			Packets     int64   `json:"packets"`
			LostPackets int64   `json:"lost_packets"`
		} `json:"sum"`
	} `json:"end"`
	Error string `json:"error"`
}

func iperfOnce(a, b string, d time.Duration, args ...string) (*iperfResult, error) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		return nil, fmt.Errorf("%w: iperf3 not installed (scripts/deps.sh installs it)", ErrSetup)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+20*time.Second)
	defer cancel()
	srv := exec.CommandContext(ctx, "ip", "netns", "exec", b, "iperf3", "-s", "-1", "--forceflush", "-B", ipB)
	out, err := srv.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	defer srv.Wait()
	defer srv.Process.Kill()
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), "Server listening") {
	}
	go func() {
		for sc.Scan() {
		}
	}()
	cli := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", a, "iperf3", "-c", ipB, "-J"}, args...)...)
	js, err := cli.Output()
	var r iperfResult
	if jerr := json.Unmarshal(js, &r); jerr != nil {
		return nil, fmt.Errorf("iperf3 %v: %v (%v)", args, err, jerr)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("iperf3 %v: %s", args, r.Error)
	}
	return &r, nil
}
