// Package nicbench measures package nic's adapters in frames per second,
// each next to a baseline that does the same job without package nic,
// measured in the same run (what `spacenet bench nic` prints): nic.Pipe
// against a channel of slices, the QEMU stream adapter against the same
// bytes on a bare unix socket, and (root) AF_PACKET with batched system
// calls against one frame per call. It is not a test of nic's behaviour.
package nicbench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"spacenet/internal/benchstat"
	"spacenet/internal/linkwait"
	"spacenet/ip/nic"
)

// Options is a Run.
type Options struct {
	Frames int  // frames per measurement
	Size   int  // bytes per frame, 14..1514
	Batch  int  // frames per Send and Recv call, 1..512
	Veth   bool // also AF_PACKET over a new veth pair (root)
	Out    io.Writer
}

// Check reports what is wrong with o's numbers.
func (o Options) Check() error {
	if o.Size < 14 || o.Size > 1514 || o.Batch < 1 || o.Batch > 512 || o.Frames < 1 {
		return errors.New("want --size 14..1514, --batch 1..512, --frames >= 1")
	}
	return nil
}

// Run measures each adapter and its baseline and prints a line each to
// o.Out.
func Run(o Options) error {
	if err := o.Check(); err != nil {
		return err
	}
	report := func(name string, got, base float64, baseName string) {
		fmt.Fprintf(o.Out, "%-12s %12.0f frames/s  %8.1f MB/s   %-22s %12.0f frames/s   ratio %.2f\n",
			name, got, got*float64(o.Size)/1e6, baseName, base, got/base)
	}

	a, b := nic.NewPipe(1500, 512)
	pipe, err := Rate(a, b, o.Frames, o.Size, o.Batch)
	a.Close()
	b.Close()
	if err != nil {
		return err
	}
	report("pipe", pipe, ChanRate(o.Frames, o.Size), "chan []byte (no copy)")

	dir, err := os.MkdirTemp("", "spacenet-bench-nic")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l, err := nic.ListenQEMUStream(filepath.Join(dir, "s.sock"))
	if err != nil {
		return err
	}
	d, err := nic.DialQEMUStream(filepath.Join(dir, "s.sock"))
	if err != nil {
		l.Close()
		return err
	}
	stream, err := Rate(d, l, o.Frames, o.Size, o.Batch)
	d.Close()
	l.Close()
	if err != nil {
		return err
	}
	raw, err := RawStreamRate(o.Frames, o.Size, o.Batch)
	if err != nil {
		return err
	}
	report("qemu-stream", stream, raw, "raw unix stream")

	if !o.Veth {
		return nil
	}
	got, base, err := vethRates(o)
	if err != nil {
		return err
	}
	report("packet", got, base, "AF_PACKET 1 per call")
	return nil
}

// vethRates measures AF_PACKET on both ends of a new veth pair, o.Batch
// frames per call and then 1.
func vethRates(o Options) (got, base float64, err error) {
	x, y := fmt.Sprintf("snbn%da", os.Getpid()%100000), fmt.Sprintf("snbn%db", os.Getpid()%100000)
	if out, err := exec.Command("ip", "link", "add", x, "type", "veth", "peer", "name", y).CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("ip link add %s: %v: %s", x, err, out)
	}
	defer exec.Command("ip", "link", "del", x).Run()
	for _, n := range []string{x, y} {
		exec.Command("sysctl", "-q", "-w", "net.ipv6.conf."+n+".disable_ipv6=1").Run()
	}
	if err := linksUp(x, y); err != nil {
		return 0, 0, err
	}
	rate := func(batch int) (float64, error) {
		px, err := nic.OpenPacket(x)
		if err != nil {
			return 0, err
		}
		defer px.Close()
		py, err := nic.OpenPacket(y)
		if err != nil {
			return 0, err
		}
		defer py.Close()
		r, err := Rate(px, py, o.Frames, o.Size, batch)
		if err == nil && py.Stats().RxKernel != 0 {
			err = fmt.Errorf("packet: the kernel dropped %d frames", py.Stats().RxKernel)
		}
		return r, err
	}
	if got, err = rate(o.Batch); err != nil {
		return 0, 0, err
	}
	if base, err = rate(1); err != nil {
		return 0, 0, err
	}
	return got, base, nil
}

// linksUp sets the interfaces up and waits until the kernel reports them
// operationally up (linkwait): until then a fresh veth drops what is sent
// on it.
func linksUp(names ...string) error {
	for _, n := range names {
		if o, err := exec.Command("ip", "link", "set", n, "up").CombinedOutput(); err != nil {
			return fmt.Errorf("ip link set %s up: %v: %s", n, err, o)
		}
	}
	return linkwait.WaitWithin(linkwait.Timeout, "", linkwait.AllUp(names...))
}

// testFrames returns batch frames of size bytes, broadcast with an
// experimental EtherType.
func testFrames(batch, size int) [][]byte {
	frames := make([][]byte, batch)
	for i := range frames {
		f := make([]byte, size)
		copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5})
		f[size-1] = byte(i)
		frames[i] = f
	}
	return frames
}

// Rate sends total frames from tx to rx and returns frames/s, keeping
// at most two windows of 256 frames in flight.
func Rate(tx, rx nic.NIC, total, size, batch int) (float64, error) {
	const window = 256
	frames := testFrames(batch, size)
	credits := make(chan struct{}, 2)
	credits <- struct{}{}
	credits <- struct{}{}
	done := make(chan error, 1)
	go func() {
		bufs := make([][]byte, max(batch, 64))
		for i := range bufs {
			bufs[i] = make([]byte, 1514)
		}
		sizes := make([]int, len(bufs))
		got, acked := 0, 0
		for got < total {
			n, err := rx.Recv(bufs, sizes)
			if err != nil {
				done <- fmt.Errorf("%s: recv after %d frames: %w", rx.Name(), got, err)
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
	// A receiver that stalls (a frame lost) must not hang the command.
	watchdog := time.AfterFunc(2*time.Minute, func() { rx.Close() })
	defer watchdog.Stop()
	start := time.Now()
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
			return 0, fmt.Errorf("%s: send: %d of %d, %v", tx.Name(), n, k, err)
		}
		sent += k
		inWindow -= k
	}
	if err := <-done; err != nil {
		return 0, err
	}
	return benchstat.PerSecond(total, time.Since(start)), nil
}

// ChanRate is the pipe's baseline: frames handed over through a buffered
// channel of slices, without copying.
func ChanRate(total, size int) float64 {
	ch := make(chan []byte, 512)
	f := make([]byte, size)
	done := make(chan struct{})
	start := time.Now()
	go func() {
		for range total {
			<-ch
		}
		close(done)
	}()
	for range total {
		ch <- f
	}
	<-done
	return benchstat.PerSecond(total, time.Since(start))
}

// RawStreamRate is the QEMU stream's baseline: the same length-prefixed
// bytes, batch frames per write, over a plain unix stream socket pair; the
// reader only counts bytes.
func RawStreamRate(total, size, batch int) (float64, error) {
	dir, err := os.MkdirTemp("", "spacenet-bench-raw")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("unix", filepath.Join(dir, "r.sock"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		return 0, err
	}
	defer s.Close()
	var msg []byte
	for range batch {
		msg = append(msg, 0, 0, byte(size>>8), byte(size))
		msg = append(msg, make([]byte, size)...)
	}
	want := int64(total) * int64(4+size)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 256<<10)
		var got int64
		for got < want {
			n, err := s.Read(buf)
			if err != nil {
				done <- err
				return
			}
			got += int64(n)
		}
		done <- nil
	}()
	start := time.Now()
	for sent := 0; sent < total; sent += batch {
		k := min(batch, total-sent)
		if _, err := c.Write(msg[:k*(4+size)]); err != nil {
			return 0, err
		}
	}
	if err := <-done; err != nil {
		return 0, err
	}
	return benchstat.PerSecond(total, time.Since(start)), nil
}
