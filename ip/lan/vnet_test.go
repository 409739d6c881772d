package lan

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

// fakeVnet is a nic.VnetNIC in memory, to test the switch's pass-through
// path alone: the test hands it batches to receive and reads what the
// switch sent out of it.
type fakeVnet struct {
	name    string
	mtu     int
	in      chan [][]byte // batches RecvVnet (or Recv) returns
	pending [][]byte      // the rest of a batch longer than the reader's
	ready   chan struct{} // a Recv call started: the previous batch is processed
	out     chan []byte   // frames sent with SendVnet (header first)
	plain   chan []byte   // frames sent with Send
	closed  chan struct{}
	once    sync.Once
	store   [][]byte // preallocated copies of sent frames
	k       int
}

func newFakeVnet(name string, mtu int) *fakeVnet { return newFakeVnetN(name, mtu, 256, nic.VnetBufLen) }

// newFakeVnetN returns a fakeVnet whose out channels hold n frames of up
// to size bytes.
func newFakeVnetN(name string, mtu, n, size int) *fakeVnet {
	f := &fakeVnet{
		name: name, mtu: mtu,
		in: make(chan [][]byte), ready: make(chan struct{}),
		out: make(chan []byte, n), plain: make(chan []byte, n),
		closed: make(chan struct{}), store: make([][]byte, 2*n),
	}
	for i := range f.store {
		f.store[i] = make([]byte, size)
	}
	return f
}

var _ nic.VnetNIC = (*fakeVnet)(nil)

func (f *fakeVnet) VnetPassThrough() bool { return true }
func (f *fakeVnet) MTU() int              { return f.mtu }
func (f *fakeVnet) Name() string          { return "fake:" + f.name }
func (f *fakeVnet) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func (f *fakeVnet) RecvVnet(bufs [][]byte, sizes []int) (int, error) {
	if len(f.pending) == 0 {
		select {
		case f.ready <- struct{}{}:
		case <-f.closed:
			return 0, nic.ErrClosed
		}
		select {
		case f.pending = <-f.in:
		case <-f.closed:
			return 0, nic.ErrClosed
		}
	}
	n := min(len(bufs), len(sizes), len(f.pending))
	for i, x := range f.pending[:n] {
		sizes[i] = copy(bufs[i], x)
	}
	f.pending = f.pending[n:]
	return n, nil
}

func (f *fakeVnet) Recv(bufs [][]byte, sizes []int) (int, error) { return f.RecvVnet(bufs, sizes) }

// send copies frames into the store (twice the channel's capacity, so
// that no buffer is reused before it is read) and hands them to ch. Its
// callers are serialised by the switch.
func (f *fakeVnet) send(frames [][]byte, ch chan []byte) (int, error) {
	for i, x := range frames {
		b := f.store[f.k%len(f.store)]
		f.k++
		select {
		case ch <- b[:copy(b, x)]:
		case <-f.closed:
			return i, nic.ErrClosed
		}
	}
	return len(frames), nil
}

func (f *fakeVnet) TrySendVnet(frame []byte) (bool, error) {
	if len(f.out) == cap(f.out) {
		return false, nil // only the reader of out makes room: no race to lose
	}
	b := f.store[f.k%len(f.store)]
	f.k++
	f.out <- b[:copy(b, frame)]
	return true, nil
}

func (f *fakeVnet) SendVnet(frames [][]byte) (int, error) { return f.send(frames, f.out) }
func (f *fakeVnet) Send(frames [][]byte) (int, error)     { return f.send(frames, f.plain) }

// inject has port f receive frames and waits until the switch has
// processed them (forwarded, queued or dropped).
func (f *fakeVnet) inject(frames ...[]byte) {
	f.in <- frames
	<-f.ready
}

// superTCPv4 returns a virtio-net header and an Ethernet/IPv4/TCP
// super-frame from macA to dst with payload bytes of payload, cut at mss
// (GSO_TCPV4, NEEDS_CSUM), contiguous as a TAP's RecvVnet leaves them.
func superTCPv4(dst wire.MAC, payload, mss int) []byte {
	raw := make([]byte, nic.VnetHdrLen, nic.VnetHdrLen+54+payload)
	raw[0] = unix.VIRTIO_NET_HDR_F_NEEDS_CSUM
	raw[1] = unix.VIRTIO_NET_HDR_GSO_TCPV4
	binary.NativeEndian.PutUint16(raw[2:], 54) // hdr_len
	binary.NativeEndian.PutUint16(raw[4:], uint16(mss))
	binary.NativeEndian.PutUint16(raw[6:], 34) // csum_start
	binary.NativeEndian.PutUint16(raw[8:], 16) // csum_offset
	raw = append(raw, dst[:]...)
	raw = append(raw, macA[:]...)
	raw = append(raw, 0x08, 0x00)
	raw = append(raw, 0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2)
	binary.BigEndian.PutUint16(raw[nic.VnetHdrLen+16:], uint16(40+payload))
	raw = append(raw, 0x30, 0x39, 0x1b, 0x58, 0, 0, 0x10, 0, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0)
	for i := range payload {
		raw = append(raw, byte(i*7))
	}
	// As the kernel leaves them: IPv4 header checksum complete, the TCP
	// checksum field holding the pseudo-header sum (NEEDS_CSUM).
	ip := raw[nic.VnetHdrLen+14 : nic.VnetHdrLen+34]
	binary.BigEndian.PutUint16(ip[10:], ^onesSum(ip, 0))
	tcp := raw[nic.VnetHdrLen+34:]
	binary.BigEndian.PutUint16(tcp[16:], onesSum(ip[12:20], 6+uint64(len(tcp))))
	return raw
}

// TestVnetForward: frames with virtio-net headers between pass-through
// ports and an ordinary port. A super-frame goes whole to a pass-through
// port whose MTU its segments fit (gso_size, not its length, is what the
// MTU checks see), cut into checksummed segments to the ordinary port,
// refused where its segments do not fit; an ordinary frame reaches a
// pass-through port behind an all-zero header.
func TestVnetForward(t *testing.T) {
	s := New(Options{FloodOnly: true})
	fa, fb := newFakeVnet("a", 1500), newFakeVnet("b", 1500)
	if err := s.Attach(fa, pc("a", "t")); err != nil {
		t.Fatal(err)
	}
	<-fa.ready
	if err := s.Attach(fb, PortConfig{Name: "b", Tenant: "t", MTU: 1400}); err != nil {
		t.Fatal(err)
	}
	<-fb.ready
	m, err := s.AttachMem(pc("m", "t"))
	if err != nil {
		t.Fatal(err)
	}

	// Segments of 54+1300 bytes fit b (MTU 1400) and m (1500).
	raw := superTCPv4(bcast, 4000, 1300)
	fa.inject(raw)
	if got := <-fb.out; !bytes.Equal(got, raw) {
		t.Errorf("b got %d bytes; want the %d-byte super-frame and header unchanged", len(got), len(raw))
	}
	segs := drain(t, m, 4)
	checkSegments(t, segs, raw, []int{1300, 1300, 1300, 100})

	// Segments of 54+1448 fit m, not b.
	raw = superTCPv4(bcast, 4000, 1448)
	fa.inject(raw)
	checkSegments(t, drain(t, m, 3), raw, []int{1448, 1448, 1104})

	// Segments of 54+1461 = 1515 fit nowhere: refused at ingress. A
	// gso_size of 0 cannot be segmented.
	fa.inject(superTCPv4(bcast, 4000, 1461), superTCPv4(bcast, 4000, 0))

	// A frame whose checksum is left to complete (no GSO): whole with its
	// header to b, completed to m.
	raw = superTCPv4(bcast, 100, 1448)
	raw[1] = unix.VIRTIO_NET_HDR_GSO_NONE
	fa.inject(raw)
	if got := <-fb.out; !bytes.Equal(got, raw) {
		t.Errorf("b got % x; want % x", got, raw)
	}
	one := drain(t, m, 1)[0]
	if !bytes.Equal(one[:50], raw[nic.VnetHdrLen:nic.VnetHdrLen+50]) || !bytes.Equal(one[54:], raw[nic.VnetHdrLen+54:]) {
		t.Errorf("m got a frame other than the one sent (checksum aside)")
	}
	if _, err := checkTCPFrame(one); err != nil {
		t.Errorf("m: %v", err)
	}

	// An ordinary frame from m: a and b get it behind an all-zero header.
	plain := eth(bcast, macC, 0x88b5, []byte("plain"), 60)
	send(t, m, plain)
	want := append(make([]byte, nic.VnetHdrLen), plain...)
	for _, f := range []*fakeVnet{fa, fb} {
		if got := <-f.out; !bytes.Equal(got, want) {
			t.Errorf("%s got % x; want % x", f.name, got, want)
		}
	}
	s.mu.Lock()
	ports := map[string]*port{}
	for n, p := range s.ports {
		ports[n] = p
	}
	s.mu.Unlock()
	s.Close() // waits for the writers: counters are final
	pa, pb, pm := ports["a"].stats(), ports["b"].stats(), ports["m"].stats()
	var want0 [NumReasons]uint64
	wantA := want0
	wantA[ReasonMTU], wantA[ReasonBadGSO] = 1, 1
	if pa.RxFrames != 5 || pa.RxDrops != wantA || pa.TxFrames != 1 || pa.TxDrops != want0 {
		t.Errorf("a: rx %d drops %v, tx %d drops %v; want rx 5 (1 mtu, 1 bad_gso), tx 1", pa.RxFrames, pa.RxDrops, pa.TxFrames, pa.TxDrops)
	}
	wantB := want0
	wantB[ReasonMTU] = 1
	if pb.RxFrames != 0 || pb.TxFrames != 3 || pb.TxDrops != wantB {
		t.Errorf("b: rx %d, tx %d drops %v; want tx 3, 1 mtu drop", pb.RxFrames, pb.TxFrames, pb.TxDrops)
	}
	if pm.RxFrames != 1 || pm.TxFrames != 8 || pm.TxDrops != want0 {
		t.Errorf("m: rx %d, tx %d drops %v; want rx 1, tx 8 (segments)", pm.RxFrames, pm.TxFrames, pm.TxDrops)
	}
	if len(fa.out)+len(fb.out)+len(fa.plain)+len(fb.plain) != 0 {
		t.Errorf("frames left: a %d b %d, plain a %d b %d", len(fa.out), len(fb.out), len(fa.plain), len(fb.plain))
	}
}

// checkSegments checks that segs are super (a header and super-frame)
// cut at the given payload sizes: valid IPv4 and TCP checksums, headers
// as the super-frame's but for lengths, IP ID, sequence number and
// checksums, payload in order.
func checkSegments(t *testing.T, segs [][]byte, raw []byte, sizes []int) {
	t.Helper()
	super := raw[nic.VnetHdrLen:]
	if len(segs) != len(sizes) {
		t.Fatalf("%d segments; want %d", len(segs), len(sizes))
	}
	off := 0
	for i, f := range segs {
		k, err := checkTCPFrame(f)
		if err != nil {
			t.Errorf("segment %d: %v", i, err)
		}
		if k != sizes[i] || len(f) != 54+sizes[i] {
			t.Errorf("segment %d: %d bytes, payload %d; want payload %d", i, len(f), k, sizes[i])
			continue
		}
		if !bytes.Equal(f[:16], super[:16]) || !bytes.Equal(f[34:38], super[34:38]) {
			t.Errorf("segment %d: headers differ from the super-frame's", i)
		}
		if id := binary.BigEndian.Uint16(f[18:]); id != 0x1234+uint16(i) {
			t.Errorf("segment %d: IP ID %#x; want %#x", i, id, 0x1234+i)
		}
		if seq := binary.BigEndian.Uint32(f[38:]); seq != 0x1000+uint32(off) {
			t.Errorf("segment %d: seq %#x; want %#x", i, seq, 0x1000+off)
		}
		if !bytes.Equal(f[54:], super[54+off:54+off+k]) {
			t.Errorf("segment %d: payload differs", i)
		}
		off += k
	}
	if off != len(super)-54 {
		t.Errorf("segments carry %d payload bytes; want %d", off, len(super)-54)
	}
}

// TestVnetMonitorDisablesPassThrough: with a Monitor (pcap), ports use
// Recv and Send, so that the monitor sees ordinary frames.
func TestVnetMonitorDisablesPassThrough(t *testing.T) {
	s := New(Options{Monitor: func(string, Direction, []byte) {}})
	defer s.Close()
	f := newFakeVnet("a", 1500)
	if err := s.Attach(f, pc("a", "t")); err != nil {
		t.Fatal(err)
	}
	<-f.ready
	s.mu.Lock()
	_, pass := s.ports["a"].out.(*vnetEgress)
	s.mu.Unlock()
	if pass {
		t.Error("pass-through on with a Monitor")
	}
}

// TestVnetForwardAllocs: learned unicast super-frames between two
// pass-through ports (written straight out by the receiving port's
// reader) allocate nothing.
func TestVnetForwardAllocs(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	fa, fb := newFakeVnet("a", 1500), newFakeVnet("b", 1500)
	for _, f := range []*fakeVnet{fa, fb} {
		if err := s.Attach(f, pc(f.name, "t")); err != nil {
			t.Fatal(err)
		}
		<-f.ready
	}
	hello := append(make([]byte, nic.VnetHdrLen), eth(bcast, macB, 0x88b5, nil, 60)...)
	fb.inject(hello) // teach the switch where B is
	<-fa.out
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = superTCPv4(macB, 8000, 1448)
	}
	fa.inject(batch...) // teach it A
	for range batch {
		<-fb.out
	}
	step := func() {
		fa.inject(batch...)
		for range batch {
			<-fb.out
		}
	}
	if avg := testing.AllocsPerRun(50, step); avg != 0 {
		t.Errorf("%.1f allocations per 64 super-frames; want 0", avg)
	}
}

// TestVnetOrder: two pass-through ports send numbered frames to a third
// at once, so that frames go out straight from either reader or through
// the third port's queue and writer; each sender's frames arrive all and
// in order.
func TestVnetOrder(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	fa, fb, fc := newFakeVnetN("a", 1500, 16, 100), newFakeVnetN("b", 1500, 16, 100), newFakeVnetN("c", 1500, 16, 100)
	for _, f := range []*fakeVnet{fa, fb, fc} {
		if err := s.Attach(f, pc(f.name, "t")); err != nil {
			t.Fatal(err)
		}
		<-f.ready
	}
	fb.inject(append(make([]byte, nic.VnetHdrLen), eth(bcast, macB, 0x88b5, nil, 60)...))
	<-fa.out
	<-fc.out
	const batches, batch = 40, 64
	mk := func(src wire.MAC) [][][]byte {
		var out [][][]byte
		for i := range batches {
			var b [][]byte
			for j := range batch {
				p := binary.BigEndian.AppendUint32(nil, uint32(i*batch+j))
				b = append(b, append(make([]byte, nic.VnetHdrLen), eth(macB, src, 0x88b5, p, 60)...))
			}
			out = append(out, b)
		}
		return out
	}
	var wg sync.WaitGroup
	for _, x := range []struct {
		f   *fakeVnet
		src wire.MAC
	}{{fa, macA}, {fc, macC}} {
		bs := mk(x.src)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range bs {
				x.f.inject(b...)
			}
		}()
	}
	// Frames may be dropped (queue_full) when the senders outrun b; the
	// rest arrive in order. Count until every frame is accounted for.
	last := map[wire.MAC]int64{macA: -1, macC: -1}
	got := 0
	check := func(f []byte) {
		src := wire.MAC(f[nic.VnetHdrLen+6 : nic.VnetHdrLen+12])
		n := int64(binary.BigEndian.Uint32(f[nic.VnetHdrLen+14:]))
		if n <= last[src] {
			t.Fatalf("from %v: frame %d after %d", src, n, last[src])
		}
		last[src] = n
		got++
	}
	sendersDone := make(chan struct{})
	go func() { wg.Wait(); close(sendersDone) }()
	for waiting := true; waiting; {
		select {
		case f := <-fb.out:
			check(f)
		case <-sendersDone:
			waiting = false
		}
	}
	st, _ := s.Port("b")
	const total = 2 * batches * batch
	for uint64(got)+st.TxDrops[ReasonQueueFull] < total {
		check(<-fb.out)
	}
	drops := st.TxDrops
	drops[ReasonQueueFull] = 0
	if drops != ([NumReasons]uint64{}) {
		t.Errorf("b: tx drops %v; want only queue_full", st.TxDrops)
	}
	t.Logf("%d frames in order, %d dropped (queue_full)", got, st.TxDrops[ReasonQueueFull])
}
