// Package nsbench measures TCP throughput between two netstacks in one
// process, and the baselines they are judged against in the same run: two
// bare gVisor stacks joined by gVisor's channel endpoints (the floor of
// the netstack's overhead) and the kernel's loopback TCP. It backs
// `spacenet bench netstack`, `spacenet iperf` and the package benchmarks.
//
// The VXLAN paths (vxlan.go: our LAN switches joined by VXLAN ports, the
// kernel's vxlan pair, and the kernel's own TCP over it) make two network
// namespaces joined by a veth for each transfer and need root.
//
// Package nsbench is a measuring tool, not a traffic generator for other
// hosts: every flow it makes starts and ends in this process.
package nsbench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"spacenet/ip/netstack"
)

// Chunk is the size of each write.
const Chunk = 64 << 10

// Result is one measured transfer.
type Result struct {
	Name    string
	MTU     int
	Bytes   int64
	Elapsed time.Duration
}

// Gbps is the goodput in Gbit/s.
func (r Result) Gbps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) * 8 / r.Elapsed.Seconds() / 1e9
}

func (r Result) String() string {
	return fmt.Sprintf("%-28s mtu %5d  %6.2f Gbit/s  (%d MiB in %v)", r.Name, r.MTU, r.Gbps(), r.Bytes>>20, r.Elapsed.Round(time.Millisecond))
}

// Progress, if not nil, is called about once a second with the bytes
// received so far.
type Progress func(received int64, elapsed time.Duration)

// Options selects one transfer.
type Options struct {
	MTU      int           // link MTU (IP packet size)
	Bytes    int64         // bytes to send; 0 with Duration set means "until Duration"
	Duration time.Duration // stop after this long (0: send Bytes)
	Progress Progress
	// GSO lets TCP hand 32 KiB super-segments to the link (host GSO on
	// an in-memory link: Pipe and bare channel endpoints only).
	GSO bool
}

var (
	// AddrA and AddrB are the addresses of the two netstacks.
	AddrA = netip.MustParseAddr("10.200.0.1")
	AddrB = netip.MustParseAddr("10.200.0.2")
)

// Pair makes two running netstacks joined by a Pipe of IP packets and
// returns them with a function that closes both.
func Pair(mtu int) (a, b *netstack.Netstack, closeFn func(), err error) {
	return pair(mtu, false)
}

func pair(mtu int, gso bool) (a, b *netstack.Netstack, closeFn func(), err error) {
	pa, pb := netstack.NewPipe(mtu, 1024)
	if gso {
		pa.EnableGSO()
		pb.EnableGSO()
	}
	a, err = netstack.New(netstack.Config{}, pa)
	if err != nil {
		return nil, nil, nil, err
	}
	b, err = netstack.New(netstack.Config{}, pb)
	if err != nil {
		a.Close()
		return nil, nil, nil, err
	}
	a.Start()
	b.Start()
	closeFn = func() { a.Close(); b.Close() }
	for _, x := range []struct {
		ns   *netstack.Netstack
		addr netip.Addr
	}{{a, AddrA}, {b, AddrB}} {
		if err := setAddr(x.ns, x.addr); err != nil {
			closeFn()
			return nil, nil, nil, err
		}
	}
	return a, b, closeFn, nil
}

// Netstack measures two netstacks over a Pipe.
func Netstack(o Options) (Result, error) {
	name := "netstack pipe"
	if o.GSO {
		name += " gso"
	}
	return runPair(name, func(mtu int) (a, b *netstack.Netstack, closeFn func(), err error) { return pair(mtu, o.GSO) }, o)
}

// runPair makes two netstacks with mkPair(o.MTU), listens on AddrB, dials
// from a and measures the transfer with Run; the result is named name.
func runPair(name string, mkPair func(mtu int) (a, b *netstack.Netstack, closeFn func(), err error), o Options) (Result, error) {
	a, b, closeFn, err := mkPair(o.MTU)
	if err != nil {
		return Result{}, err
	}
	defer closeFn()
	l, err := b.ListenTCP(netip.AddrPortFrom(AddrB, 5201), 8)
	if err != nil {
		return Result{}, err
	}
	defer l.Close()
	dial := func() (net.Conn, error) {
		return a.DialTCP(context.Background(), netip.AddrPort{}, netip.AddrPortFrom(AddrB, 5201))
	}
	r, err := Run(l, dial, o)
	r.Name, r.MTU = name, o.MTU
	return r, err
}

// setAddr gives ns the address addr/24.
func setAddr(ns *netstack.Netstack, addr netip.Addr) error {
	_, err := ns.Request(context.Background(), netstack.SetAddrs{Addrs: []netip.Prefix{netip.PrefixFrom(addr, 24)}})
	return err
}

// Kernel measures the kernel's loopback TCP.
func Kernel(o Options) (Result, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return Result{}, err
	}
	defer l.Close()
	dial := func() (net.Conn, error) { return net.Dial("tcp4", l.Addr().String()) }
	r, err := Run(l, dial, o)
	r.Name, r.MTU = "kernel loopback", 65536
	return r, err
}

// Run accepts one connection on l, dials one with dial, sends o.Bytes (or
// for o.Duration) from the dialed side, and times until the receiver has
// read it all.
func Run(l net.Listener, dial func() (net.Conn, error), o Options) (Result, error) {
	type acc struct {
		c   net.Conn
		err error
	}
	accepted := make(chan acc, 1)
	go func() {
		c, err := l.Accept()
		accepted <- acc{c, err}
	}()
	c, err := dial()
	if err != nil {
		return Result{}, err
	}
	defer c.Close()
	s := <-accepted
	if s.err != nil {
		return Result{}, s.err
	}
	defer s.c.Close()

	var received atomic.Int64
	rdone := make(chan error, 1)
	start := time.Now()
	go func() {
		buf := make([]byte, Chunk)
		for {
			n, err := s.c.Read(buf)
			received.Add(int64(n))
			if err == io.EOF {
				rdone <- nil
				return
			}
			if err != nil {
				rdone <- err
				return
			}
		}
	}()
	stopProgress := make(chan struct{})
	if o.Progress != nil {
		go func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					o.Progress(received.Load(), time.Since(start))
				case <-stopProgress:
					return
				}
			}
		}()
	}
	buf := make([]byte, Chunk)
	for i := range buf {
		buf[i] = byte(i)
	}
	var sent int64
	for {
		if o.Duration > 0 {
			if time.Since(start) >= o.Duration {
				break
			}
		} else if sent >= o.Bytes {
			break
		}
		n := int64(Chunk)
		if o.Duration == 0 && o.Bytes-sent < n {
			n = o.Bytes - sent
		}
		w, err := c.Write(buf[:n])
		sent += int64(w)
		if err != nil {
			close(stopProgress)
			return Result{}, err
		}
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		c.Close()
	}
	err = <-rdone
	elapsed := time.Since(start)
	close(stopProgress)
	if err != nil {
		return Result{}, err
	}
	if got := received.Load(); got != sent {
		return Result{}, fmt.Errorf("received %d bytes, sent %d", got, sent)
	}
	return Result{Bytes: sent, Elapsed: elapsed}, nil
}

// RoundTrip measures the command round trip (a Nop request answered by
// the loop) over n requests and returns the time per request.
func RoundTrip(n int) (time.Duration, error) {
	a, _, closeFn, err := Pair(1500)
	if err != nil {
		return 0, err
	}
	defer closeFn()
	ctx := context.Background()
	for i := 0; i < 1000; i++ { // warm up the request pool
		if _, err := a.Request(ctx, netstack.Nop{}); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := a.Request(ctx, netstack.Nop{}); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}
