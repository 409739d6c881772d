package lanbench

import (
	"errors"
	"testing"
	"time"

	"spacenet/ip/lan"
)

// tcpOnce runs one iperf3 TCP test of d between two namespaces made by
// setup and returns the receiver's rate in Gbit/s.
func tcpOnce(b *testing.B, d time.Duration, setup func(e *env) ([2]string, error)) float64 {
	e := &env{}
	defer e.close()
	nss, err := setup(e)
	if errors.Is(err, ErrSetup) {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	r, err := iperfOnce(nss[0], nss[1], d, "-t", secs(d))
	if errors.Is(err, ErrSetup) {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	return r.End.SumReceived.BitsPerSecond / 1e9
}

// BenchmarkTCPPassThrough: iperf3 TCP for 3 s each through our switch
// with GSO pass-through TAPs, through our switch with TAPs that cut
// super-frames (the path before pass-through), and through a Linux bridge,
// in the same run.
func BenchmarkTCPPassThrough(b *testing.B) {
	ours := func(pass bool) func(e *env) ([2]string, error) {
		return func(e *env) ([2]string, error) {
			s := lan.New(lan.Options{})
			nss, err := e.ours(s, pass)
			// Cleanups run last first: the switch closes its TAPs
			// before their namespaces go.
			e.cleanup = append(e.cleanup, func() { s.Close() })
			return nss, err
		}
	}
	for range b.N {
		b.ReportMetric(tcpOnce(b, 3*time.Second, ours(true)), "pass-Gbit/s")
		b.ReportMetric(tcpOnce(b, 3*time.Second, ours(false)), "cut-Gbit/s")
		b.ReportMetric(tcpOnce(b, 3*time.Second, (*env).bridge), "bridge-Gbit/s")
	}
}
