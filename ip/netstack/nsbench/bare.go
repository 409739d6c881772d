package nsbench

import (
	"context"
	"fmt"
	"net"
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// bareQueue is the channel endpoints' queue length: large, because they
// drop silently when full.
const bareQueue = 4096

// Bare measures two bare gVisor stacks joined by gVisor's channel link
// endpoints, with checksum offload, moved by one goroutine per direction,
// and gonet sockets: the usual way to wire gVisor in one process.
func Bare(o Options) (Result, error) {
	sa, ea := bareStack(o.MTU, AddrA, o.GSO)
	sb, eb := bareStack(o.MTU, AddrB, o.GSO)
	var wg sync.WaitGroup
	wg.Add(2)
	go bareForward(&wg, ea, eb)
	go bareForward(&wg, eb, ea)
	defer func() {
		sa.Destroy()
		sb.Destroy()
		ea.Close()
		eb.Close()
		wg.Wait()
	}()
	l, err := gonet.ListenTCP(sb, tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(AddrB.As4()), Port: 5201}, ipv4.ProtocolNumber)
	if err != nil {
		return Result{}, err
	}
	defer l.Close()
	dial := func() (net.Conn, error) {
		return gonet.DialTCP(sa, tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(AddrB.As4()), Port: 5201}, ipv4.ProtocolNumber)
	}
	r, err := Run(l, dial, o)
	r.Name, r.MTU = "bare gVisor channel", o.MTU
	if o.GSO {
		r.Name += " gso"
	}
	return r, err
}

func bareStack(mtu int, addr interface{ As4() [4]byte }, gso bool) (*stack.Stack, *channel.Endpoint) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	ep := channel.New(bareQueue, uint32(mtu), "")
	ep.LinkEPCapabilities = stack.CapabilityRXChecksumOffload | stack.CapabilityTXChecksumOffload
	if gso {
		ep.SupportedGSOKind = stack.HostGSOSupported
	}
	if err := s.CreateNIC(1, ep); err != nil {
		panic(fmt.Sprint("nsbench: create NIC: ", err))
	}
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(addr.As4()), PrefixLen: 24}}
	if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		panic(fmt.Sprint("nsbench: add address: ", err))
	}
	s.SetRouteTable([]tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: 1}})
	return s, ep
}

// bareForward moves packets from one channel endpoint into the other
// stack until from is closed.
func bareForward(wg *sync.WaitGroup, from, to *channel.Endpoint) {
	defer wg.Done()
	ctx := context.Background()
	for {
		pkt := from.ReadContext(ctx)
		if pkt == nil {
			return
		}
		in := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: pkt.ToBuffer()})
		pkt.DecRef()
		to.InjectInbound(header.IPv4ProtocolNumber, in)
		in.DecRef()
	}
}
