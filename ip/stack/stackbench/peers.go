package stackbench

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"spacenet/internal/netnsdo"
	"spacenet/ip/netstack"
	"spacenet/ip/nic"
	"spacenet/ip/stack"
	"spacenet/ip/tcp"
	"spacenet/ip/wire"
)

// Kind is a TCP implementation.
type Kind int

const (
	Ours   Kind = iota // ip/stack with ip/tcp, through its net.Conn adapter
	GVisor             // gVisor's TCP (ip/netstack)
	Kernel             // the Linux kernel's TCP in a network namespace
	// GVisorOffload is gVisor's TCP with checksum offload (it neither
	// computes nor checks checksums): its best case, on media that never
	// leave the process only (ours always computes them).
	GVisorOffload
)

func (k Kind) String() string {
	return [...]string{"ours", "gvisor", "kernel", "gvoff"}[k]
}

// ConnBuffer is the size of each of our net.Conn adapter's rings, and
// gVisor's default TCP send and receive buffers (it may grow them to 4 MiB).
const ConnBuffer = 1 << 20

// peer is one running TCP implementation with an address on a medium.
type peer struct {
	addr   netip.Addr
	listen func(ctx context.Context, port uint16) (net.Listener, error)
	dial   func(ctx context.Context, remote netip.AddrPort) (net.Conn, error)
	close  func()
}

// pair is a client and a server peer on one medium.
type pair struct {
	client, server *peer
}

func (p *pair) serverAddr(port uint16) netip.AddrPort { return netip.AddrPortFrom(p.server.addr, port) }

func (p *pair) close() {
	p.client.close()
	p.server.close()
}

// startOurs runs our stack on n with address addr/24.
func startOurs(n nic.NIC, mac wire.MAC, addr netip.Addr) (*peer, error) {
	s, err := stack.New(n, stack.Config{MAC: mac, IPv4: netip.PrefixFrom(addr, 24), Hold: 4,
		TCP: tcp.Config{Conns: 8, MSL: int64(50 * time.Millisecond)}})
	if err != nil {
		n.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	cfg := stack.ConnConfig{SendBuffer: ConnBuffer, RecvBuffer: ConnBuffer}
	return &peer{
		addr: addr,
		listen: func(ctx context.Context, port uint16) (net.Listener, error) {
			return s.ListenConn(ctx, port, 2, cfg)
		},
		dial: func(ctx context.Context, remote netip.AddrPort) (net.Conn, error) {
			return s.DialConn(ctx, 0, remote, cfg)
		},
		close: func() { cancel(); <-errc },
	}, nil
}

// startGVisor runs a netstack on n with address addr/24 (checksums in
// full: offload only where the medium never leaves the process).
func startGVisor(n nic.NIC, mac wire.MAC, addr netip.Addr, offload bool) (*peer, error) {
	ns, err := netstack.New(netstack.Config{MAC: mac, TCPSendBuffer: ConnBuffer, TCPRecvBuffer: ConnBuffer}, netstack.NICDevice(n, offload))
	if err != nil {
		n.Close()
		return nil, err
	}
	ns.Start()
	if _, err := ns.Request(context.Background(), netstack.SetAddrs{Addrs: []netip.Prefix{netip.PrefixFrom(addr, 24)}}); err != nil {
		ns.Close()
		return nil, err
	}
	return &peer{
		addr: addr,
		listen: func(_ context.Context, port uint16) (net.Listener, error) {
			return ns.ListenTCP(netip.AddrPortFrom(addr, port), 4)
		},
		dial: func(ctx context.Context, remote netip.AddrPort) (net.Conn, error) {
			return ns.DialTCP(ctx, netip.AddrPort{}, remote)
		},
		close: func() { ns.Close(); n.Close() },
	}, nil
}

// kernelPeer is the kernel's TCP in network namespace ns at addr: its
// sockets are made on a thread inside ns and used from anywhere.
func kernelPeer(ns string, addr netip.Addr) *peer {
	return &peer{
		addr: addr,
		listen: func(_ context.Context, port uint16) (net.Listener, error) {
			var l net.Listener
			err := netnsdo.Do(ns, func() (err error) {
				l, err = net.Listen("tcp4", netip.AddrPortFrom(addr, port).String())
				return err
			})
			return l, err
		},
		dial: func(ctx context.Context, remote netip.AddrPort) (net.Conn, error) {
			var c net.Conn
			err := netnsdo.Do(ns, func() (err error) {
				var d net.Dialer
				c, err = d.DialContext(ctx, "tcp4", remote.String())
				return err
			})
			return c, err
		},
		close: func() {},
	}
}

// errNoKernel says a medium cannot carry the kernel's TCP.
var errNoKernel = errors.New("the kernel cannot be on this medium")
