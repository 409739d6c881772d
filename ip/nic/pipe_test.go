package nic

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// frameOf returns an n-byte frame whose bytes encode tag, so that frames
// can be told apart byte-wise.
func frameOf(n int, tag byte) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = tag + byte(i)
	}
	return f
}

func makeBufs(n, size int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	return bufs, make([]int, n)
}

func TestPipeBatch(t *testing.T) {
	tests := []struct {
		name    string
		send    []int // frame lengths sent
		recvBuf int   // receive buffers per call
		bufSize int
		want    [][]int // per Recv call: the indices of the sent frames it returns
		tooBig  uint64
	}{
		{"one", []int{60}, 4, 1514, [][]int{{0}}, 0},
		{"batch all", []int{60, 61, 1514}, 4, 1514, [][]int{{0, 1, 2}}, 0},
		{"batch split", []int{60, 61, 62, 63, 64}, 2, 1514, [][]int{{0, 1}, {2, 3}, {4}}, 0},
		{"too big dropped", []int{60, 100, 61}, 4, 80, [][]int{{0, 2}}, 1},
		{"zero length", []int{0, 14}, 4, 1514, [][]int{{0, 1}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := NewPipe(1500, 8)
			defer a.Close()
			defer b.Close()
			var frames [][]byte
			var total uint64
			for i, n := range tc.send {
				frames = append(frames, frameOf(n, byte(i*17)))
				total += uint64(n)
			}
			if n, err := a.Send(frames); n != len(frames) || err != nil {
				t.Fatalf("Send = %d, %v; want %d, nil", n, err, len(frames))
			}
			bufs, sizes := makeBufs(tc.recvBuf, tc.bufSize)
			var rxBytes uint64
			for call, want := range tc.want {
				n, err := b.Recv(bufs, sizes)
				if err != nil || n != len(want) {
					t.Fatalf("Recv call %d = %d, %v; want %d, nil", call, n, err, len(want))
				}
				for j, idx := range want {
					if got := bufs[j][:sizes[j]]; !bytes.Equal(got, frames[idx]) {
						t.Errorf("call %d frame %d = % x; want % x", call, j, got, frames[idx])
					}
					rxBytes += uint64(sizes[j])
				}
			}
			sa, sb := a.(StatsReporter).Stats(), b.(StatsReporter).Stats()
			if want := (Stats{TxFrames: uint64(len(frames)), TxBytes: total}); sa != want {
				t.Errorf("a stats = %+v; want %+v", sa, want)
			}
			delivered := uint64(len(frames)) - tc.tooBig
			if want := (Stats{RxFrames: delivered, RxBytes: rxBytes, RxTooBig: tc.tooBig}); sb != want {
				t.Errorf("b stats = %+v; want %+v", sb, want)
			}
		})
	}
}

func TestPipeBothWays(t *testing.T) {
	a, b := NewPipe(100, 2)
	defer a.Close()
	defer b.Close()
	bufs, sizes := makeBufs(2, 114)
	for _, dir := range []struct{ from, to NIC }{{a, b}, {b, a}} {
		f := frameOf(20, byte(len(dir.from.Name())))
		if _, err := dir.from.Send([][]byte{f}); err != nil {
			t.Fatal(err)
		}
		n, err := dir.to.Recv(bufs, sizes)
		if n != 1 || err != nil || !bytes.Equal(bufs[0][:sizes[0]], f) {
			t.Fatalf("%s->%s: Recv = %d, %v, % x", dir.from.Name(), dir.to.Name(), n, err, bufs[0][:sizes[0]])
		}
	}
	if a.Name() != "pipe:a" || b.Name() != "pipe:b" || a.MTU() != 100 {
		t.Errorf("names %q %q mtu %d", a.Name(), b.Name(), a.MTU())
	}
}

func TestPipeSendTooBig(t *testing.T) {
	a, b := NewPipe(100, 4)
	defer a.Close()
	defer b.Close()
	frames := [][]byte{frameOf(114, 1), frameOf(115, 2), frameOf(60, 3)}
	n, err := a.Send(frames)
	if n != 1 || !errors.Is(err, ErrTooBig) {
		t.Fatalf("Send = %d, %v; want 1, ErrTooBig", n, err)
	}
	const want = "nic: pipe:a: send frame 1: 115 bytes > MTU 100 + 14: frame too big"
	if err.Error() != want {
		t.Errorf("error %q; want %q", err, want)
	}
	if s := a.(StatsReporter).Stats(); s.TxTooBig != 1 || s.TxFrames != 1 || s.TxBytes != 114 {
		t.Errorf("stats %+v", s)
	}
}

// TestPipeBackpressure fills the ring and checks that Send blocks, and
// resumes in order once the other end receives.
func TestPipeBackpressure(t *testing.T) {
	a, b := NewPipe(1500, 3)
	defer a.Close()
	defer b.Close()
	var frames [][]byte
	for i := range 5 {
		frames = append(frames, frameOf(60, byte(i)))
	}
	if n, err := a.Send(frames[:3]); n != 3 || err != nil {
		t.Fatalf("Send = %d, %v", n, err)
	}
	sent := make(chan error)
	go func() {
		_, err := a.Send(frames[3:])
		sent <- err
	}()
	select {
	case err := <-sent:
		t.Fatalf("Send on a full pipe returned %v; want it to block", err)
	default:
	}
	// Every frame comes out in order, none dropped, however Recv batches.
	bufs, sizes := makeBufs(2, 1514)
	var got int
	for got < 5 {
		n, err := b.Recv(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for j := range n {
			if !bytes.Equal(bufs[j][:sizes[j]], frames[got]) {
				t.Fatalf("frame %d = % x; want % x", got, bufs[j][:sizes[j]], frames[got])
			}
			got++
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if s := b.(StatsReporter).Stats(); s.RxFrames != 5 || s.RxTooBig != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestPipeCloseUnblocks(t *testing.T) {
	for _, closer := range []string{"a", "b"} {
		t.Run("close "+closer, func(t *testing.T) {
			a, b := NewPipe(1500, 1)
			ends := map[string]NIC{"a": a, "b": b}
			// a blocks in Send (its ring of 1 is full) and in Recv (nothing
			// comes from b); b receives until it blocks.
			if _, err := a.Send([][]byte{frameOf(60, 0)}); err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, 3)
			go func() { _, err := a.Send([][]byte{frameOf(60, 1)}); errs <- err }()
			go func() { _, err := a.Recv(makeBufs(1, 1514)); errs <- err }()
			go func() {
				// b's Recv gets the queued frame, then (maybe after the
				// blocked Send's frame) blocks until Close.
				bufs, sizes := makeBufs(1, 1514)
				for {
					if _, err := b.Recv(bufs, sizes); err != nil {
						errs <- err
						return
					}
				}
			}()
			if err := ends[closer].Close(); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if err := <-errs; err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("blocked call returned %v; want ErrClosed", err)
				}
			}
			for name, e := range ends {
				if _, err := e.Send([][]byte{frameOf(60, 2)}); !errors.Is(err, ErrClosed) {
					t.Errorf("%s.Send after close = %v", name, err)
				}
				if _, err := e.Recv(makeBufs(1, 1514)); !errors.Is(err, ErrClosed) {
					t.Errorf("%s.Recv after close = %v", name, err)
				}
			}
			a.Close()
			b.Close()
		})
	}
}

func TestPipeCloseErrors(t *testing.T) {
	a, b := NewPipe(1500, 4)
	if _, err := a.Send([][]byte{frameOf(60, 9)}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	bufs, sizes := makeBufs(4, 1514)
	// The peer still gets what was sent before the close, then ErrClosed.
	if n, err := b.Recv(bufs, sizes); n != 1 || err != nil {
		t.Fatalf("Recv after peer close = %d, %v; want the queued frame", n, err)
	}
	_, err := b.Recv(bufs, sizes)
	if want := "nic: pipe:b: peer pipe:a closed: nic: closed"; err == nil || err.Error() != want {
		t.Errorf("Recv = %v; want %q", err, want)
	}
	_, err = a.Recv(bufs, sizes)
	if want := "nic: pipe:a: nic: closed"; err == nil || err.Error() != want {
		t.Errorf("Recv = %v; want %q", err, want)
	}
	if n, err := b.Recv(nil, nil); n != 0 || err != nil {
		t.Errorf("Recv(nil) = %d, %v", n, err)
	}
	b.Close()
}

func TestPipeNoAllocs(t *testing.T) {
	a, b := NewPipe(1500, 64)
	defer a.Close()
	defer b.Close()
	frames := make([][]byte, 64)
	for i := range frames {
		frames[i] = frameOf(1514, byte(i))
	}
	bufs, sizes := makeBufs(64, 1514)
	allocs := testing.AllocsPerRun(100, func() {
		if n, err := a.Send(frames); n != 64 || err != nil {
			panic(fmt.Sprint(n, err))
		}
		for got := 0; got < 64; {
			n, err := b.Recv(bufs, sizes)
			if err != nil {
				panic(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per 64-frame send+recv; want 0", allocs)
	}
}

func TestNewPipePanics(t *testing.T) {
	for _, tc := range []struct{ mtu, depth int }{{-1, 1}, {65536, 1}, {1500, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewPipe(%d, %d) did not panic", tc.mtu, tc.depth)
				}
			}()
			NewPipe(tc.mtu, tc.depth)
		}()
	}
}

// BenchmarkPipe measures frames per second through a pipe with a sender
// and a receiver goroutine. The baseline is a buffered chan []byte that
// passes frames without copying them.
func BenchmarkPipe(b *testing.B) {
	for _, size := range []int{64, 1500} {
		for _, batch := range []int{1, 64} {
			b.Run(fmt.Sprintf("size=%d/batch=%d", size, batch), func(b *testing.B) {
				benchPipe(b, size, batch)
			})
		}
	}
	b.Run("baseline-chan/size=1500", func(b *testing.B) {
		ch := make(chan []byte, 256)
		f := frameOf(1500, 0)
		done := make(chan struct{})
		go func() {
			for range b.N {
				<-ch
			}
			close(done)
		}()
		b.SetBytes(1500)
		b.ReportAllocs()
		for range b.N {
			ch <- f
		}
		<-done
	})
}

func benchPipe(b *testing.B, size, batch int) {
	x, y := NewPipe(1500, 256)
	defer x.Close()
	defer y.Close()
	frames := make([][]byte, batch)
	for i := range frames {
		frames[i] = frameOf(size, byte(i))
	}
	done := make(chan struct{})
	total := b.N * batch
	go func() {
		defer close(done)
		bufs, sizes := makeBufs(batch, 1514)
		for got := 0; got < total; {
			n, err := y.Recv(bufs, sizes)
			if err != nil {
				return
			}
			got += n
		}
	}()
	b.SetBytes(int64(size * batch))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := x.Send(frames); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "frames/s")
}

// TestPipeStress pushes 20000 frames of varying sizes through a ring of 3
// with varying batch sizes on both sides, so that both ends keep waiting
// for each other, and checks every frame in order.
func TestPipeStress(t *testing.T) {
	a, b := NewPipe(1500, 3)
	defer a.Close()
	defer b.Close()
	const total = 20000
	sizeOf := func(i int) int { return 14 + (i*7919)%1500 }
	errs := make(chan error, 1)
	go func() {
		frames := make([][]byte, 0, 7)
		for i := 0; i < total; {
			frames = frames[:0]
			for k := 0; k < 1+i%7 && i+k < total; k++ {
				frames = append(frames, frameOf(sizeOf(i+k), byte(i+k)))
			}
			n, err := a.Send(frames)
			if err != nil {
				errs <- err
				return
			}
			i += n
		}
		errs <- nil
	}()
	bufs, sizes := makeBufs(5, 1514)
	for got, call := 0, 0; got < total; call++ {
		n, err := b.Recv(bufs[:1+call%5], sizes)
		if err != nil {
			t.Fatal(err)
		}
		for j := range n {
			if want := frameOf(sizeOf(got), byte(got)); !bytes.Equal(bufs[j][:sizes[j]], want) {
				t.Fatalf("frame %d: %d bytes, want %d", got, sizes[j], len(want))
			}
			got++
		}
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}
