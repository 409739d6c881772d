package stack

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// TestConnAdapter: net.Conn on both ends (DialConn, ListenConn), the
// stream both ways at once through io.Copy-style loops, sha256-checked;
// deadlines; Close.
func TestConnAdapter(t *testing.T) {
	p := newPair(t, 1500, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := p.b.ListenConn(ctx, 8080, 2, ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	size := kernelSize / 16
	want := streamSum(size)
	type result struct {
		n   int64
		sum string
		err error
	}
	duplex := func(c *Conn) result {
		n, sum, err := duplexStream(c, size)
		return result{n, sum, err}
	}
	server := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			server <- result{err: err}
			return
		}
		defer c.Close()
		server <- duplex(c.(*Conn))
	}()
	c, err := p.a.DialConn(ctx, 9000, netip.MustParseAddrPort("10.9.0.2:8080"), ConnConfig{SendBuffer: 64 << 10, RecvBuffer: 128 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.RemoteAddr().String(); got != "10.9.0.2:8080" {
		t.Errorf("RemoteAddr %s", got)
	}
	start := time.Now()
	rc := duplex(c)
	rs := <-server
	for _, r := range []result{rc, rs} {
		if r.err != nil || r.n != size || r.sum != want {
			t.Errorf("read %d of %d (err %v), sum ok %v", r.n, size, r.err, r.sum == want)
		}
	}
	t.Logf("%d MiB each way through net.Conn in %v", size>>20, time.Since(start).Round(time.Millisecond))
	// After the peer's FIN, Read says EOF; a past deadline times out.
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 10)); err != io.EOF && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read after EOF with a past deadline: %v", err)
	}
	c.Close()
	if _, err := c.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// TestConnDeadline: a Read with nothing to read returns at its deadline.
func TestConnDeadline(t *testing.T) {
	p := newPair(t, 1500, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := p.b.ListenConn(ctx, 8081, 1, ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := p.a.DialConn(ctx, 0, netip.MustParseAddrPort("10.9.0.2:8081"), ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if port := c.LocalAddr().(*net.TCPAddr).Port; port < 49152 {
		t.Errorf("ephemeral port %d", port)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read: %v, want os.ErrDeadlineExceeded", err)
	}
	sc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	sc.Close()
}
