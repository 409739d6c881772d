package stackbench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"spacenet/internal/checkstream"
)

// duplexConn is checkstream.Duplex on a net.Conn that can half-close.
func duplexConn(c net.Conn, size int64) (int64, [32]byte, error) {
	hc, ok := c.(checkstream.HalfCloser)
	if !ok {
		return 0, [32]byte{}, fmt.Errorf("%T cannot half-close", c)
	}
	return checkstream.Duplex(hc, size)
}

// throughput connects client to server's listener, sends size bytes each
// way at once, checks both directions' sha256 against want and returns
// the transfer's time, from the moment the client's dial returns (the
// connection established on the client's side; the server's side half a
// round trip later) until both sides have read everything, and the
// dial's own time (neighbour resolution and handshake, a lost SYN's
// retransmission included), which the transfer's time leaves out for
// every pairing alike.
func throughput(ctx context.Context, p *pair, port uint16, size int64, want [32]byte) (transfer, dial time.Duration, err error) {
	l, err := p.server.listen(ctx, port)
	if err != nil {
		return 0, 0, fmt.Errorf("listen: %w", err)
	}
	defer l.Close()
	res := checkstream.AcceptDuplex(ctx, l, size)
	dialed := time.Now()
	c, err := p.client.dial(ctx, p.serverAddr(port))
	if err != nil {
		l.Close()
		<-res
		return 0, 0, fmt.Errorf("dial: %w", err)
	}
	start := time.Now()
	dial = start.Sub(dialed)
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close(); l.Close() })
	defer stop()
	n, sum, err := duplexConn(c, size)
	r := <-res
	transfer = time.Since(start)
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("client: %w", err)
	case r.Err != nil:
		return 0, 0, fmt.Errorf("server: %w", r.Err)
	case n != size || sum != want:
		return 0, 0, fmt.Errorf("client received %d of %d bytes, sha256 match %v", n, size, sum == want)
	case r.N != size || r.Sum != want:
		return 0, 0, fmt.Errorf("server received %d of %d bytes, sha256 match %v", r.N, size, r.Sum == want)
	}
	return transfer, dial, nil
}

// MessageSize is the size of each round trip's request and echo.
const MessageSize = 64

// roundTrips sends trips requests of MessageSize bytes from client, each
// echoed by server before the next, and returns every round trip sorted.
func roundTrips(ctx context.Context, p *pair, port uint16, trips int) ([]time.Duration, error) {
	l, err := p.server.listen(ctx, port)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	defer l.Close()
	echoed := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			echoed <- err
			return
		}
		defer c.Close()
		defer context.AfterFunc(ctx, func() { c.Close() })()
		buf := make([]byte, MessageSize)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				if err == io.EOF {
					err = nil
				}
				echoed <- err
				return
			}
			if _, err := c.Write(buf); err != nil {
				echoed <- err
				return
			}
		}
	}()
	c, err := p.client.dial(ctx, p.serverAddr(port))
	if err != nil {
		l.Close()
		<-echoed
		return nil, fmt.Errorf("dial: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close(); l.Close() })
	defer stop()
	req, resp := make([]byte, MessageSize), make([]byte, MessageSize)
	rtts := make([]time.Duration, 0, trips)
	for i := range trips {
		for j := range req {
			req[j] = byte(i + j)
		}
		t0 := time.Now()
		if _, err := c.Write(req); err != nil {
			c.Close()
			return nil, fmt.Errorf("trip %d: %w", i, err)
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			c.Close()
			return nil, fmt.Errorf("trip %d: %w", i, err)
		}
		rtts = append(rtts, time.Since(t0))
		if !bytes.Equal(req, resp) {
			c.Close()
			return nil, fmt.Errorf("trip %d: echo differs", i)
		}
	}
	c.Close()
	if err := <-echoed; err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	slices.Sort(rtts)
	return rtts, nil
}
