package lanbench

import (
	"errors"
	"sync"
	"time"

	"spacenet/ip/nic"
)

// Relay measures the same iperf3 runs as Ours between two namespaces
// joined by the barest TAP forwarder this process can be: two goroutines,
// each reading frames from one TAP (pass-through, GSO super-frames whole)
// and writing them to the other, with no switch in between: no learning,
// no checks, no queue, no counters of ours. It is the ceiling of any
// forwarder that moves frames through TAP read(2) and write(2): what the
// switch's TAP path can be judged against apart from the Linux bridge.
func Relay(d time.Duration) (Kernel, error) {
	e := &env{}
	defer e.close()
	taps, nss, err := e.tapPair("snlr", true)
	if err != nil {
		return Kernel{}, err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, dir := range [][2]*nic.TAP{{taps[0], taps[1]}, {taps[1], taps[0]}} {
		wg.Go(func() { errs <- relay(dir[0], dir[1]) })
	}
	k, err := iperf(nss[0], nss[1], d)
	for _, t := range taps {
		t.Close()
	}
	wg.Wait()
	close(errs)
	for rerr := range errs {
		if err == nil && rerr != nil {
			err = rerr
		}
	}
	return k, err
}

// relay copies frames from a to b until a is closed. Frames b refuses (too
// big, full: it never waits) are not counted here: b's own counters have
// them, and iperf3 reports what arrived.
func relay(a, b *nic.TAP) error {
	const batch = 32
	bufs := make([][]byte, batch)
	sizes := make([]int, batch)
	frames := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, nic.VnetBufLen)
	}
	for {
		n, err := a.RecvVnet(bufs, sizes)
		for i := range n {
			frames[i] = bufs[i][:sizes[i]]
		}
		for sent := 0; sent < n; {
			k, serr := b.SendVnet(frames[sent:n])
			sent += k
			if serr != nil {
				if errors.Is(serr, nic.ErrClosed) {
					return nil
				}
				sent++ // refused one frame: skip it
			}
		}
		if err != nil {
			if errors.Is(err, nic.ErrClosed) {
				return nil
			}
			return err
		}
	}
}
