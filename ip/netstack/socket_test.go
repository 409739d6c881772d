package netstack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

func TestHTTPOverNetstack(t *testing.T) {
	a, b := pipePair(t, 1500)
	l, err := b.ListenTCP(netip.AddrPortFrom(addrB, 8080), 64)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("spacenet "), 10000)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got", fmt.Sprint(len(in)))
		w.Write(body)
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	tr := &http.Transport{DialContext: a.DialContext}
	client := &http.Client{Transport: tr}
	for i := 0; i < 3; i++ {
		resp, err := client.Post("http://10.0.0.2:8080/x", "text/plain", bytes.NewReader(make([]byte, 5000)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, body) || resp.Header.Get("X-Got") != "5000" {
			t.Fatalf("request %d: %d bytes, X-Got %q, err %v", i, len(got), resp.Header.Get("X-Got"), err)
		}
	}
	tr.CloseIdleConnections()
	srv.Close()
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("serve: %v", err)
	}
}

// TestAcceptBacklogBurst: 200 connects at once on a backlog of 256; every
// one is accepted and answers, none is reset.
func TestAcceptBacklogBurst(t *testing.T) {
	const n = 200
	a, b := pipePair(t, 1500)
	l, err := b.ListenTCP(netip.AddrPortFrom(addrB, 81), 256)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := a.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(addrB, 81))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			var buf [1]byte
			if _, err := io.ReadFull(c, buf[:]); err != nil || buf[0] != 'k' {
				errs <- fmt.Errorf("read: %v %q", err, buf[:])
			}
		}()
	}
	// Accept only after all have connected (they sit in the backlog).
	conns := make([]net.Conn, 0, n)
	for len(conns) < n {
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		if _, err := c.Write([]byte("k")); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if r := b.Stack().Stats().TCP.ResetsSent.Value(); r != 0 {
		t.Errorf("listener side sent %d resets", r)
	}
	if r := a.Stack().Stats().TCP.ResetsReceived.Value(); r != 0 {
		t.Errorf("client side received %d resets", r)
	}
}

func TestCloseSemantics(t *testing.T) {
	a, b := pipePair(t, 1500)
	l, err := b.ListenTCP(netip.AddrPortFrom(addrB, 82), 8)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := ctxT(t)
	pair := func() (*Conn, *Conn) {
		c, err := a.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(addrB, 82))
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return c, s.(*Conn)
	}
	t.Run("FIN", func(t *testing.T) {
		c, s := pair()
		c.Write([]byte("data"))
		c.Close()
		got, err := io.ReadAll(s)
		if err != nil || string(got) != "data" {
			t.Fatalf("got %q %v", got, err)
		}
		s.Close()
	})
	t.Run("RST", func(t *testing.T) {
		c, s := pair()
		c.Abort()
		var buf [4]byte
		_, err := s.Read(buf[:])
		if !errors.Is(err, ErrConnectionReset) {
			t.Fatalf("read after peer RST: %v", err)
		}
		s.Close()
	})
	t.Run("half-close", func(t *testing.T) {
		c, s := pair()
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(s); err != nil || len(got) != 0 {
			t.Fatalf("server read %q %v", got, err)
		}
		if _, err := s.Write([]byte("reply")); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got, err := io.ReadAll(c); err != nil || string(got) != "reply" {
			t.Fatalf("client read %q %v", got, err)
		}
		if _, err := c.Write([]byte("x")); err == nil {
			t.Fatal("write after CloseWrite succeeded")
		}
		c.Close()
	})
	t.Run("use after close", func(t *testing.T) {
		c, s := pair()
		c.Close()
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on closed: %v", err)
		}
		s.Close()
	})
	t.Run("close unblocks parked read", func(t *testing.T) {
		c, s := pair()
		res := make(chan error, 1)
		go func() {
			_, err := s.Read(make([]byte, 1))
			res <- err
		}()
		// The read parks (no data); closing the socket answers it.
		waitParked(t, b)
		b.Request(ctx, Close{Handle: s.h})
		if err := <-res; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("parked read: %v", err)
		}
		c.Close()
	})
	t.Run("refused", func(t *testing.T) {
		_, err := a.DialTCP(ctx, netip.AddrPort{}, netip.AddrPortFrom(addrB, 9))
		if !errors.Is(err, ErrConnectionReset) {
			t.Fatalf("connect to closed port: %v", err)
		}
	})
}

// waitParked waits until ns has parked one more command than before the
// call's first look (it blocks on the netstack's own counter, no sleeps
// deciding the outcome).
func waitParked(t *testing.T, ns *Netstack) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ns.parkedNow() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no command parked")
		}
		// Ask the loop (a round trip orders us after it).
		ns.Request(context.Background(), Nop{})
	}
}

func TestDeadlines(t *testing.T) {
	a, b := pipePair(t, 1500)
	l, err := b.ListenTCP(netip.AddrPortFrom(addrB, 83), 8)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := a.DialTCP(ctxT(t), netip.AddrPort{}, netip.AddrPortFrom(addrB, 83))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// A read deadline in the past fails at once; a future one fails after
	// it passes; moving it unblocks; clearing it lets data through.
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("future deadline: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	s.Write([]byte("z"))
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err != nil || buf[0] != 'z' {
		t.Fatalf("after clearing: %v %q", err, buf)
	}
	// Write deadline: the peer never reads, so writes fill both windows
	// and the deadline ends the blocked write with a short count.
	c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	big := make([]byte, 64<<20)
	n, err := c.Write(big)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n >= len(big) {
		t.Fatalf("write deadline: n=%d err=%v", n, err)
	}
	// UDP read deadline.
	p, err := a.ListenUDP(netip.AddrPortFrom(addrA, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, _, err := p.ReadFrom(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("udp deadline: %v", err)
	}
	// After timeouts the loop holds no abandoned commands.
	a.Request(context.Background(), Nop{})
	if n := a.parkedNow(); n != 0 {
		t.Fatalf("%d commands still parked", n)
	}
}

func TestPacketConn(t *testing.T) {
	a, b := pipePair(t, 1500)
	pa, err := a.ListenUDP(netip.AddrPortFrom(addrA, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	pb, err := b.ListenUDP(netip.AddrPortFrom(addrB, 53))
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	for i := 0; i < 50; i++ {
		msg := []byte(fmt.Sprintf("datagram %d", i))
		if _, err := pa.WriteTo(msg, pb.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		n, from, err := pb.ReadFrom(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) || from.String() != pa.LocalAddr().String() {
			t.Fatalf("%d: %q from %v, %v", i, buf[:n], from, err)
		}
	}
}

// transferTimeout bounds one transfer: minutes more than any run takes.
const transferTimeout = 2 * time.Minute

// tcpCounters is a Netstack's TCP counters, for a failure message.
func tcpCounters(ns *Netstack) string {
	c := ns.Stack().Stats().TCP
	return fmt.Sprintf("segments sent %d received %d, retransmits %d (fast %d, slow start %d), timeouts %d, established %d, connected %d, resets sent %d received %d; netstack %+v",
		c.SegmentsSent.Value(), c.ValidSegmentsReceived.Value(), c.Retransmits.Value(), c.FastRetransmit.Value(), c.SlowStartRetransmits.Value(),
		c.Timeouts.Value(), c.CurrentEstablished.Value(), c.CurrentConnected.Value(), c.ResetsSent.Value(), c.ResetsReceived.Value(), ns.Stats())
}

// transfer sends n pseudo-random bytes from a to b over TCP and checks the
// SHA-256 on the far side.
func transfer(t *testing.T, a, b *Netstack, bAddr netip.Addr, port uint16, n int) {
	t.Helper()
	l, err := b.ListenTCP(netip.AddrPortFrom(bAddr, port), 8)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	want := sha256.Sum256(data)
	got := make(chan [32]byte, 1)
	go func() {
		s, err := l.Accept()
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		defer s.Close()
		// A transfer that stalls fails with both stacks' TCP counters
		// instead of hanging the package until its timeout.
		s.SetReadDeadline(time.Now().Add(transferTimeout))
		h := sha256.New()
		if _, err := io.Copy(h, s); err != nil {
			t.Errorf("receiving %d bytes on port %d: %v\nsender: %s\nreceiver: %s", n, port, err, tcpCounters(a), tcpCounters(b))
		}
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		got <- sum
	}()
	c, err := a.DialTCP(ctxT(t), netip.AddrPort{}, netip.AddrPortFrom(bAddr, port))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if g := <-got; g != want {
		t.Fatalf("sha256 mismatch after %d bytes", n)
	}
}
