package stack

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/internal/tcppeer"
	"spacenet/ip/nic"
	"spacenet/ip/tcp"
	"spacenet/ip/tcp/tcptest"
	"spacenet/ip/wire"
)

var (
	macA = wire.MAC{0x02, 0, 0, 0, 0, 0xa}
	macB = wire.MAC{0x02, 0, 0, 0, 0, 0xb}
)

// pair is two stacks on the two ends of a nic.Pipe.
type pair struct {
	a, b   *Stack
	cancel context.CancelFunc
	errs   chan error
}

func newPair(t *testing.T, mtu int, cfg func(c *Config)) *pair {
	t.Helper()
	na, nb := nic.NewPipe(mtu, 256)
	ca := Config{MAC: macA, IPv4: netip.MustParsePrefix("10.9.0.1/24"), IPv6: netip.MustParsePrefix("fd00:9::1/64"),
		TCP: tcp.Config{Conns: 8, MSL: int64(50 * time.Millisecond)}, Hold: 4}
	cb := ca
	cb.MAC, cb.IPv4, cb.IPv6 = macB, netip.MustParsePrefix("10.9.0.2/24"), netip.MustParsePrefix("fd00:9::2/64")
	if cfg != nil {
		cfg(&ca)
		cfg(&cb)
	}
	a, err := New(na, ca)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(nb, cb)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pair{a: a, b: b, cancel: cancel, errs: make(chan error, 2)}
	go func() { p.errs <- a.Run(ctx) }()
	go func() { p.errs <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-p.errs; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	})
	return p
}

// stream runs one connection from a (client) to b (server), size bytes
// each way, and checks both sums.
func stream(t *testing.T, p *pair, remote netip.AddrPort, size int64) (client, server *tcptest.StreamApp) {
	t.Helper()
	client, server = tcptest.NewStreamApp(size, 256<<10), tcptest.NewStreamApp(size, 256<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.b.Do(ctx, func() {
		if err := p.b.Table().Listen(tcp.Listener{Port: remote.Port(), Quota: 2, Accept: func(l, r netip.AddrPort) (tcp.App, bool) {
			return server.App(), true
		}}); err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	var dialErr error
	if err := p.a.Do(ctx, func() {
		var c *tcp.Conn
		c, dialErr = p.a.Dial(40001, remote, client.App())
		if dialErr == nil {
			c.Push(int(size))
		}
	}); err != nil || dialErr != nil {
		t.Fatal(err, dialErr)
	}
	for _, a := range []*tcptest.StreamApp{client, server} {
		select {
		case <-a.Done:
		case <-ctx.Done():
			t.Fatalf("timed out: client %+v server %+v", p.a.Stats(), p.b.Stats())
		}
	}
	want := streamSum(size)
	for _, a := range []*tcptest.StreamApp{client, server} {
		if a.Err != nil || a.Consumed != size || a.Sum() != want {
			t.Errorf("err %v, received %d of %d, sum %s want %s", a.Err, a.Consumed, size, a.Sum(), want)
		}
	}
	return client, server
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(peerEnv); spec != "" {
		os.Exit(tcppeer.Main(strings.Fields(spec)))
	}
	goleak.VerifyTestMain(m)
}

func TestPipeTransfer(t *testing.T) {
	for _, remote := range []string{"10.9.0.2:80", "[fd00:9::2]:80"} {
		t.Run(remote, func(t *testing.T) {
			p := newPair(t, 1500, nil)
			start := time.Now()
			const size = 8 << 20
			c, _ := stream(t, p, netip.MustParseAddrPort(remote), size)
			el := time.Since(start)
			t.Logf("%d MiB each way in %v (%.0f MB/s each way); client %+v", size>>20, el, float64(size)/el.Seconds()/1e6, c.Info)
			t.Logf("A %+v", p.a.Stats())
		})
	}
}

// TestDoAfterRun: once Run has returned, Do says so at once.
func TestDoAfterRun(t *testing.T) {
	na, nb := nic.NewPipe(1500, 4)
	defer nb.Close()
	s, err := New(na, Config{MAC: macA, IPv4: netip.MustParsePrefix("10.9.0.1/24")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	if err := s.Do(context.Background(), func() {}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := s.Do(context.Background(), func() { t.Error("ran after Run returned") }); !errors.Is(err, ErrStopped) {
		t.Errorf("Do after Run: %v, want ErrStopped", err)
	}
}
