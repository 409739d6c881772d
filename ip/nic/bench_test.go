package nic

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"spacenet/internal/netnstest"
)

// benchLink measures frames/s from tx to rx (two real devices joined by
// the kernel) sending batches of batch frames of size bytes. The sender
// keeps at most two windows of 256 frames in flight, so that the
// receiver's socket buffer never overflows (kernel drops fail the
// benchmark rather than hang it: see the RxKernel check).
func benchLink(b *testing.B, tx, rx NIC, size, batch int) {
	const window = 256
	frames := make([][]byte, batch)
	for i := range frames {
		f := frameOf(size, byte(i))
		copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5})
		frames[i] = f
	}
	total := b.N * batch
	credits := make(chan struct{}, 2)
	credits <- struct{}{}
	credits <- struct{}{}
	done := make(chan error, 1)
	go func() {
		bufs, sizes := makeBufs(64, size)
		got, acked := 0, 0
		for got < total {
			n, err := rx.Recv(bufs, sizes)
			if err != nil {
				done <- err
				return
			}
			got += n
			for got-acked >= window {
				acked += window
				credits <- struct{}{}
			}
		}
		done <- nil
	}()
	b.SetBytes(int64(size * batch))
	b.ReportAllocs()
	b.ResetTimer()
	sent, inWindow := 0, 0
	for sent < total {
		if inWindow == 0 {
			select {
			case <-credits:
			case err := <-done: // the receiver failed: stop sending
				done <- err
				sent = total
				continue
			}
			inWindow = window
		}
		k := min(batch, total-sent, inWindow)
		if n, err := tx.Send(frames[:k]); err != nil || n != k {
			b.Fatalf("Send = %d, %v", n, err)
		}
		sent += k
		inWindow -= k
	}
	if err := <-done; err != nil {
		out, _ := exec.Command("ip", "-s", "link", "show", tx.Name()).CombinedOutput()
		b.Fatalf("%v; sent %d; tx stats %+v; rx stats %+v\n%s", err, sent, tx.(StatsReporter).Stats(), rx.(StatsReporter).Stats(), out)
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "frames/s")
	if s, ok := rx.(StatsReporter); ok && s.Stats().RxKernel != 0 {
		b.Fatalf("kernel dropped %d frames", s.Stats().RxKernel)
	}
}

// BenchmarkPacketVeth sends frames through a veth pair, AF_PACKET on both
// ends. batch=1 is the baseline (one syscall per frame each way, as a
// plain read/write loop does); batch=64 uses sendmmsg/recvmmsg fully.
func BenchmarkPacketVeth(b *testing.B) {
	for _, size := range []int{64, 1500} {
		for _, batch := range []int{1, 64} {
			b.Run(fmt.Sprintf("size=%d/batch=%d", size, batch), func(b *testing.B) {
				x, y := quietVethPair(b)
				px, err := OpenPacket(x)
				if err != nil {
					b.Fatal(err)
				}
				defer px.Close()
				py, err := OpenPacket(y)
				if err != nil {
					b.Fatal(err)
				}
				defer py.Close()
				watchdog(b, py, 10*time.Second)
				benchLink(b, px, py, size, batch)
			})
		}
	}
}

// BenchmarkTAPBridge sends frames into one TAP and receives them from
// another, the two joined by a Linux bridge in a fresh netns: the cost of
// TAP in both directions plus the kernel's bridge. Plain TAPs (no
// virtio-net header); batch only saves Go-side calls here, since TAP has
// one read or write per frame.
func BenchmarkTAPBridge(b *testing.B) {
	for _, size := range []int{64, 1500} {
		b.Run(fmt.Sprintf("size=%d/batch=64", size), func(b *testing.B) {
			ns := netnstest.NewNetns(b, "sn-nic-")
			netnstest.Run(b, "ip", "-n", ns, "link", "add", "br0", "type", "bridge")
			netnstest.Run(b, "ip", "-n", ns, "link", "set", "br0", "up")
			var taps [2]*TAP
			for i := range taps {
				tap, err := OpenTAP(netnstest.UniqueName("snt"), TAPOptions{})
				netnstest.SkipIfNoTAP(b, err)
				defer tap.Close()
				netnstest.Run(b, "ip", "link", "set", tap.Name(), "netns", ns)
				netnstest.Run(b, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf."+tap.Name()+".disable_ipv6=1")
				netnstest.Run(b, "ip", "-n", ns, "link", "set", tap.Name(), "master", "br0")
				netnstest.SetUpAndWait(b, ns, tap.Name())
				taps[i] = tap
			}
			watchdog(b, taps[1], 30*time.Second)
			benchLink(b, taps[0], taps[1], size, 64)
		})
	}
}
