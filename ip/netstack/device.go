package netstack

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"spacenet/ip/nic"
)

// Medium is what a Device carries.
type Medium int

const (
	// MediumIP devices carry bare IP packets (no link header, no ARP).
	MediumIP Medium = iota
	// MediumEthernet devices carry Ethernet frames; gVisor resolves
	// neighbours with ARP and NDP.
	MediumEthernet
)

// Device is where a Netstack's packets go: a Pipe end (IP medium) or a NIC
// (Ethernet medium, see NICDevice). A Device belongs to one Netstack.
type Device interface {
	// Medium says whether the device carries IP packets or Ethernet frames.
	Medium() Medium
	// MTU is the largest IP packet the device carries.
	MTU() int
	// checksumOffload says the device never leaves this process, so
	// checksums need not be computed or verified.
	checksumOffload() bool
	// send transmits packets in order, blocking while the device applies
	// backpressure, and returns how many it took: fewer only with an
	// error (the device was closed). It does not consume the packets'
	// references.
	send(pkts []*stack.PacketBuffer) (int, error)
	// recv fills dst with inbound packets (new references the caller
	// owns). With block it waits for at least one.
	recv(dst []*stack.PacketBuffer, block bool) (int, error)
	// close unblocks send and recv for good.
	close() error
}

// PipeEnd is one end of an in-memory link carrying IP packets, like the
// seed's Pipe: two bounded channels. Packets are gVisor buffers passed by
// reference, so nothing is copied between two netstacks.
type PipeEnd struct {
	name string
	mtu  int
	tx   chan buffer.Buffer
	rx   chan buffer.Buffer
	done chan struct{} // shared by both ends
	once *sync.Once
	// TooBig counts packets refused because they exceed the MTU.
	tooBig atomic.Uint64
	gso    bool

	// An unbounded pipe's packets that did not fit tx (txOver) or rx
	// (rxOver, the peer's txOver), in order; nil for a bounded pipe.
	txOver, rxOver *overflow
}

// NewPipe returns the two ends of a pipe carrying IP packets of up to mtu
// bytes, depth packets deep in each direction. Send blocks when depth
// packets are waiting (backpressure); nothing is dropped.
func NewPipe(mtu, depth int) (a, b *PipeEnd) {
	ab := make(chan buffer.Buffer, depth)
	ba := make(chan buffer.Buffer, depth)
	done := make(chan struct{})
	once := new(sync.Once)
	a = &PipeEnd{name: "pipe:a", mtu: mtu, tx: ab, rx: ba, done: done, once: once}
	b = &PipeEnd{name: "pipe:b", mtu: mtu, tx: ba, rx: ab, done: done, once: once}
	return a, b
}

// unboundedChan is the channel depth of each direction of an unbounded
// pipe; packets beyond it wait in the direction's overflow.
const unboundedChan = 64

// NewUnboundedPipe returns the two ends of a pipe carrying IP packets of up
// to mtu bytes with no bound on either direction, like the seed's
// Pipe::unbounded: Send never waits for the peer, and packets the peer has
// not read are kept in memory without limit. For tests and simple uses
// only: nothing pushes back on a sender that outruns its peer, so memory
// grows until the peer reads or the pipe is closed. Use NewPipe for a
// bounded pipe with backpressure.
func NewUnboundedPipe(mtu int) (a, b *PipeEnd) {
	a, b = NewPipe(mtu, unboundedChan)
	ab, ba := new(overflow), new(overflow)
	a.txOver, a.rxOver = ab, ba
	b.txOver, b.rxOver = ba, ab
	return a, b
}

// Unbounded reports whether the pipe was made by NewUnboundedPipe.
func (p *PipeEnd) Unbounded() bool { return p.txOver != nil }

// overflow is one direction of an unbounded pipe beyond its channel: the
// packets that did not fit, in order. Whenever it holds any, the channel is
// full: senders append here (not to the channel) while n > 0, and every
// sender and receiver moves packets from here to the channel as it has
// room, under mu.
type overflow struct {
	n    atomic.Int64 // len(bufs) - head
	mu   sync.Mutex
	bufs []buffer.Buffer
	head int
}

// push appends b and moves what fits into ch. o.mu is held.
func (o *overflow) push(b buffer.Buffer, ch chan buffer.Buffer) {
	o.bufs = append(o.bufs, b)
	o.n.Add(1)
	o.fill(ch)
}

// fill moves packets into ch while it has room and reports whether it
// moved any. o.mu is held.
func (o *overflow) fill(ch chan buffer.Buffer) bool {
	moved := 0
	for o.head < len(o.bufs) {
		select {
		case ch <- o.bufs[o.head]:
			o.bufs[o.head] = buffer.Buffer{}
			o.head++
			moved++
			continue
		default:
		}
		break
	}
	if o.head == len(o.bufs) {
		o.bufs, o.head = o.bufs[:0], 0
	} else if o.head > len(o.bufs)/2 {
		k := copy(o.bufs, o.bufs[o.head:])
		clear(o.bufs[k:])
		o.bufs, o.head = o.bufs[:k], 0
	}
	o.n.Add(int64(-moved))
	return moved > 0
}

// release releases every packet held. o.mu is held.
func (o *overflow) release() {
	for i := o.head; i < len(o.bufs); i++ {
		o.bufs[i].Release()
	}
	clear(o.bufs)
	o.bufs, o.head = nil, 0
	o.n.Store(0)
}

// refill moves packets of the unbounded direction p receives from into
// p.rx after a receive made room, and reports whether it moved any.
func (p *PipeEnd) refill() bool {
	o := p.rxOver
	if o == nil || o.n.Load() == 0 {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fill(p.rx)
}

// sendUnbounded queues b on an unbounded pipe without waiting.
func (p *PipeEnd) sendUnbounded(b buffer.Buffer) error {
	select {
	case <-p.done:
		b.Release()
		return fmt.Errorf("%s: %w", p.name, ErrClosed)
	default:
	}
	o := p.txOver
	if o.n.Load() == 0 {
		select {
		case p.tx <- b:
			return nil
		default:
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case <-p.done: // checked under o.mu, which close takes after closing done: b is released here or by close
		b.Release()
		return fmt.Errorf("%s: %w", p.name, ErrClosed)
	default:
	}
	o.push(b, p.tx)
	return nil
}

// EnableGSO lets the netstack on this end send TCP super-segments of up to
// 32 KiB, beyond the MTU (host GSO on an in-memory link: the peer netstack
// takes them whole). Both ends of a pipe should agree. Call before New.
func (p *PipeEnd) EnableGSO() { p.gso = true }

// Medium implements Device.
func (p *PipeEnd) Medium() Medium { return MediumIP }

// MTU implements Device.
func (p *PipeEnd) MTU() int { return p.mtu }

// Name returns "pipe:a" or "pipe:b".
func (p *PipeEnd) Name() string { return p.name }

// TooBig returns how many packets this end refused as longer than the MTU.
func (p *PipeEnd) TooBig() uint64 { return p.tooBig.Load() }

func (p *PipeEnd) checksumOffload() bool { return true }

func (p *PipeEnd) send(pkts []*stack.PacketBuffer) (int, error) {
	for i, pkt := range pkts {
		if err := p.sendBuf(pkt.ToBuffer()); err != nil {
			return i, err
		}
	}
	return len(pkts), nil
}

func (p *PipeEnd) sendBuf(b buffer.Buffer) error {
	if int(b.Size()) > p.mtu && !p.gso {
		p.tooBig.Add(1)
		b.Release()
		return nil // counted: a gVisor bug would show here, never silently
	}
	// Closed first: with room in tx as well, select would pick at random
	// and a packet could "succeed" into a pipe nobody reads any more.
	select {
	case <-p.done:
		b.Release()
		return fmt.Errorf("%s: %w", p.name, ErrClosed)
	default:
	}
	if p.txOver != nil {
		return p.sendUnbounded(b)
	}
	select {
	case p.tx <- b:
		return nil
	case <-p.done:
		b.Release()
		return fmt.Errorf("%s: %w", p.name, ErrClosed)
	}
}

func (p *PipeEnd) recv(dst []*stack.PacketBuffer, block bool) (int, error) {
	n := 0
	if block {
		select {
		case b := <-p.rx:
			dst[0] = stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: b})
			n = 1
		case <-p.done:
			return 0, fmt.Errorf("%s: %w", p.name, ErrClosed)
		}
	}
	for n < len(dst) {
		select {
		case b := <-p.rx:
			dst[n] = stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: b})
			n++
			continue
		default:
		}
		if !p.refill() {
			return n, nil
		}
	}
	p.refill()
	return n, nil
}

// Send puts one raw IP packet (copied) on the pipe, as if a peer sent it.
// On an unbounded pipe it never waits.
func (p *PipeEnd) Send(ctx context.Context, pkt []byte) error {
	b := buffer.MakeWithData(pkt)
	if p.txOver != nil {
		return p.sendUnbounded(b)
	}
	select {
	case p.tx <- b:
		return nil
	case <-p.done:
		b.Release()
		return fmt.Errorf("%s: %w", p.name, ErrClosed)
	case <-ctx.Done():
		b.Release()
		return ctx.Err()
	}
}

// Recv takes one IP packet off the pipe, as a peer would.
func (p *PipeEnd) Recv(ctx context.Context) ([]byte, error) {
	select {
	case b := <-p.rx:
		p.refill()
		out := b.Flatten()
		b.Release()
		return out, nil
	case <-p.done:
		return nil, fmt.Errorf("%s: %w", p.name, ErrClosed)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close unplugs the pipe (both ends) and releases queued packets.
func (p *PipeEnd) Close() error { return p.close() }

func (p *PipeEnd) close() error {
	p.once.Do(func() { close(p.done) })
	for _, o := range []*overflow{p.txOver, p.rxOver} {
		if o != nil {
			o.mu.Lock()
			o.release()
			o.mu.Unlock()
		}
	}
	for {
		select {
		case b := <-p.rx:
			b.Release()
		case b := <-p.tx:
			b.Release()
		default:
			return nil
		}
	}
}

// nicDevice carries Ethernet frames over a nic.NIC. In Run mode the
// ingress goroutine blocks in NIC.Recv itself, receiving straight into
// gVisor buffer views (no copy after the NIC's), and the egress goroutine
// sends batches from the link endpoint's queue. In pumped mode a reader
// goroutine blocks in Recv instead, so that polling never blocks.
type nicDevice struct {
	n       nic.NIC
	offload bool
	size    int
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	err     atomic.Pointer[error]
	refused atomic.Uint64

	// rn is n when it passes frames by reference (a nic.RefNIC): packets
	// cross it without being flattened or copied.
	rn     nic.RefNIC
	shared atomic.Uint64 // packets received as another netstack's buffers (rn)

	// Receive state: one goroutine at a time (ingress or reader).
	views []*buffer.View
	bufs  [][]byte
	sizes []int
	refIn []nic.Ref

	// Pumped mode: the reader goroutine feeds in.
	readerOnce sync.Once
	in         chan *stack.PacketBuffer

	mu     sync.Mutex // send state
	out    [][]byte
	outBuf [][]byte
	refOut []nic.Ref
}

// NICDevice returns an Ethernet-medium Device over n. Set checksumOffload
// only when n never leaves this process (a Pipe or the in-process LAN
// switch); at real boundaries (TAP, AF_PACKET) it must be false so that
// every packet carries correct checksums.
//
// If n is a nic.RefNIC (a by-reference port of the LAN switch, from
// lan.Switch.AttachRef), packets go to it as references to gVisor's packet
// buffers (no copy), and a packet that another netstack sent by reference
// arrives as a new packet buffer sharing its views (no copy); frames from
// other ports are copied in as from any NIC.
func NICDevice(n nic.NIC, checksumOffload bool) Device {
	const batch = 32
	d := &nicDevice{
		n: n, offload: checksumOffload, size: n.MTU() + header.EthernetMinimumSize,
		done:  make(chan struct{}),
		in:    make(chan *stack.PacketBuffer, 256),
		views: make([]*buffer.View, batch),
		bufs:  make([][]byte, batch),
		sizes: make([]int, batch),
	}
	if rn, ok := n.(nic.RefNIC); ok {
		d.rn = rn
		d.refIn = make([]nic.Ref, batch)
	}
	return d
}

func (d *nicDevice) Medium() Medium        { return MediumEthernet }
func (d *nicDevice) MTU() int              { return d.n.MTU() }
func (d *nicDevice) checksumOffload() bool { return d.offload }

// recvNIC blocks in NIC.Recv, receiving into gVisor views, and wraps each
// frame in a new packet buffer.
func (d *nicDevice) recvNIC(dst []*stack.PacketBuffer) (int, error) {
	m := min(len(dst), len(d.views))
	for i := 0; i < m; i++ {
		if d.views[i] == nil {
			d.views[i] = buffer.NewViewSize(d.size)
		}
		d.bufs[i] = d.views[i].AsSlice()
	}
	if d.rn != nil {
		return d.recvRefs(dst[:m])
	}
	n, err := d.n.Recv(d.bufs[:m], d.sizes[:m])
	for i := 0; i < n; i++ {
		dst[i] = d.takeView(i)
	}
	return n, err
}

// takeView wraps view i, holding a frame of d.sizes[i] bytes, in a new
// packet buffer; recvNIC makes a new view for the next frame.
func (d *nicDevice) takeView(i int) *stack.PacketBuffer {
	v := d.views[i]
	d.views[i] = nil
	v.CapLength(d.sizes[i])
	return stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithView(v)})
}

// recvRefs is recvNIC on a by-reference port; d.bufs are ready.
func (d *nicDevice) recvRefs(dst []*stack.PacketBuffer) (int, error) {
	m := len(dst)
	n, err := d.rn.RecvRefs(d.refIn[:m], d.bufs[:m], d.sizes[:m])
	for i := 0; i < n; i++ {
		ref := d.refIn[i]
		d.refIn[i] = nil
		if pr, ok := ref.(*pktRef); ok {
			// Another netstack's packet: share its views.
			dst[i] = stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: pr.pkt().ToBuffer()})
			pr.Release()
			d.shared.Add(1)
			continue
		}
		if ref != nil {
			d.sizes[i] = ref.CopyTo(d.bufs[i])
			ref.Release()
		}
		dst[i] = d.takeView(i)
	}
	return n, err
}

func (d *nicDevice) reader() {
	defer d.wg.Done()
	defer close(d.in)
	var batch [32]*stack.PacketBuffer
	for {
		n, err := d.recvNIC(batch[:])
		for i := 0; i < n; i++ {
			select {
			case d.in <- batch[i]:
			case <-d.done:
				for _, p := range batch[i:n] {
					p.DecRef()
				}
				return
			}
			batch[i] = nil
		}
		if err != nil {
			d.err.Store(&err)
			return
		}
	}
}

func (d *nicDevice) send(pkts []*stack.PacketBuffer) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.rn != nil {
		return d.sendRefs(pkts)
	}
	d.out = d.out[:0]
	for i, pkt := range pkts {
		if i >= len(d.outBuf) {
			d.outBuf = append(d.outBuf, make([]byte, 0, d.size))
		}
		b := d.outBuf[i][:0]
		for _, v := range pkt.AsSlices() {
			b = append(b, v...)
		}
		d.outBuf[i] = b
		d.out = append(d.out, b)
	}
	for len(d.out) > 0 {
		n, err := d.n.Send(d.out)
		if err != nil {
			if errors.Is(err, nic.ErrClosed) {
				return len(pkts) - len(d.out) + n, fmt.Errorf("%s: send: %w", d.n.Name(), err)
			}
			// The device refused one frame (too big, ...): count it and
			// go on with the rest; TCP will retransmit.
			d.refused.Add(1)
			n++
		}
		d.out = d.out[min(n, len(d.out)):]
	}
	return len(pkts), nil
}

// sendRefs is send on a by-reference port: each packet goes as a new
// reference to itself. d.mu held.
func (d *nicDevice) sendRefs(pkts []*stack.PacketBuffer) (int, error) {
	refs := d.refOut[:0]
	for _, pkt := range pkts {
		refs = append(refs, (*pktRef)(pkt.IncRef()))
	}
	d.refOut = refs[:0]
	n, err := d.rn.SendRefs(refs) // takes every reference
	if err != nil {
		if errors.Is(err, nic.ErrClosed) {
			return n, fmt.Errorf("%s: send: %w", d.n.Name(), err)
		}
		// Frames the port refused (too big) are counted; TCP retransmits.
		d.refused.Add(uint64(len(pkts) - n))
	}
	return len(pkts), nil
}

func (d *nicDevice) recv(dst []*stack.PacketBuffer, block bool) (int, error) {
	if block {
		// Run mode: the ingress goroutine is the only receiver.
		select {
		case <-d.done:
			return 0, fmt.Errorf("%s: %w", d.n.Name(), ErrClosed)
		default:
		}
		return d.recvNIC(dst)
	}
	d.readerOnce.Do(func() {
		d.wg.Add(1)
		go d.reader()
	})
	n := 0
	for n < len(dst) {
		select {
		case p, ok := <-d.in:
			if !ok {
				if n > 0 {
					return n, nil
				}
				return 0, d.recvErr()
			}
			dst[n] = p
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

func (d *nicDevice) recvErr() error {
	if e := d.err.Load(); e != nil {
		return *e
	}
	return fmt.Errorf("%s: %w", d.n.Name(), ErrClosed)
}

func (d *nicDevice) close() error {
	var err error
	d.once.Do(func() {
		close(d.done)
		err = d.n.Close()
		d.wg.Wait()
		for {
			select {
			case p, ok := <-d.in:
				if ok {
					p.DecRef()
					continue
				}
			default:
			}
			break
		}
	})
	return err
}

// releaseViews frees the receive views; call after the receiver stopped.
func (d *nicDevice) releaseViews() {
	for i, v := range d.views {
		if v != nil {
			v.Release()
			d.views[i] = nil
		}
	}
}

// ipProto returns the network protocol of a bare IP packet from its
// version nibble.
func ipProto(pkt *stack.PacketBuffer) (tcpip.NetworkProtocolNumber, bool) {
	v, ok := pkt.Data().PullUp(1)
	if !ok {
		return 0, false
	}
	switch v[0] >> 4 {
	case 4:
		return header.IPv4ProtocolNumber, true
	case 6:
		return header.IPv6ProtocolNumber, true
	}
	return 0, false
}

// pktRef is a gVisor packet passed through the LAN switch by reference
// (nic.Ref): a pointer conversion of *stack.PacketBuffer, so making one
// allocates nothing. Each pktRef stands for one reference to the packet.
type pktRef stack.PacketBuffer

var _ nic.Ref = (*pktRef)(nil)

func (r *pktRef) pkt() *stack.PacketBuffer { return (*stack.PacketBuffer)(r) }

// Len implements nic.Ref: the whole frame, link header included.
func (r *pktRef) Len() int { return r.pkt().Size() }

// CopyTo implements nic.Ref.
func (r *pktRef) CopyTo(dst []byte) int {
	vl, off := r.pkt().AsViewList()
	n := 0
	for v := vl.Front(); v != nil && n < len(dst); v = v.Next() {
		b := v.AsSlice()
		if off >= len(b) {
			off -= len(b)
			continue
		}
		n += copy(dst[n:], b[off:])
		off = 0
	}
	return n
}

// Clone implements nic.Ref.
func (r *pktRef) Clone() nic.Ref {
	r.pkt().IncRef()
	return r
}

// Release implements nic.Ref.
func (r *pktRef) Release() { r.pkt().DecRef() }
