package fault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"spacenet/ip/nic"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const seed = 42

// prng is the generator Wrap uses, to predict its decisions.
func prng() *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x5eed_fa17)) }

// frameN returns a frame of size bytes carrying id in bytes 14..17.
func frameN(id, size int) []byte {
	f := make([]byte, size)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5})
	binary.BigEndian.PutUint32(f[14:], uint32(id))
	for i := 18; i < size; i++ {
		f[i] = byte(id + i)
	}
	return f
}

func id(f []byte) int { return int(binary.BigEndian.Uint32(f[14:])) }

// run sends n frames of 64 bytes (or sizes[i]) through Wrap(cfg) over a
// pipe and returns what arrived and the stats.
func run(t *testing.T, cfg Config, n int, size func(int) int) ([][]byte, Stats) {
	t.Helper()
	a, b := nic.NewPipe(1500, 4*n+16)
	f := Wrap(a, cfg, seed)
	defer f.Close()
	defer b.Close()
	for i := 0; i < n; i += 100 {
		var batch [][]byte
		for j := i; j < min(n, i+100); j++ {
			batch = append(batch, frameN(j, size(j)))
		}
		if k, err := f.Send(batch); k != len(batch) || err != nil {
			t.Fatalf("Send = %d, %v", k, err)
		}
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	st := f.Stats()
	var got [][]byte
	bufs, sizes := make([][]byte, 64), make([]int, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 1514)
	}
	for uint64(len(got)) < st.Delivered {
		k, err := b.Recv(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i := range k {
			got = append(got, bytes.Clone(bufs[i][:sizes[i]]))
		}
	}
	return got, st
}

func size64(int) int { return 64 }

func TestLoss(t *testing.T) {
	const n = 10000
	got, st := run(t, Config{Loss: 0.1}, n, size64)
	r := prng()
	var want []int
	for i := range n {
		if r.Float64() >= 0.1 {
			want = append(want, i)
		}
	}
	if st.Lost != uint64(n-len(want)) || st.Delivered+st.Lost != n || st.Sent != n {
		t.Fatalf("stats %+v; want Lost %d", st, n-len(want))
	}
	if st.Lost < 900 || st.Lost > 1100 {
		t.Errorf("lost %d of %d at 10%%", st.Lost, n)
	}
	if len(got) != len(want) {
		t.Fatalf("received %d; want %d", len(got), len(want))
	}
	for i, f := range got {
		if id(f) != want[i] || !bytes.Equal(f, frameN(want[i], 64)) {
			t.Fatalf("frame %d is id %d; want %d", i, id(f), want[i])
		}
	}
}

func TestDuplicate(t *testing.T) {
	const n = 10000
	got, st := run(t, Config{Duplicate: 0.05}, n, size64)
	r := prng()
	var dups uint64
	for range n {
		if r.Float64() < 0.05 {
			dups++
		}
	}
	if st.Duplicated != dups || st.Delivered != n+dups || uint64(len(got)) != n+dups {
		t.Fatalf("stats %+v, received %d; want %d duplicates", st, len(got), dups)
	}
	next, seen2 := 0, uint64(0)
	for i := 0; i < len(got); i++ {
		if id(got[i]) != next {
			t.Fatalf("frame %d id %d; want %d", i, id(got[i]), next)
		}
		if i+1 < len(got) && id(got[i+1]) == next {
			seen2++
			i++
		}
		next++
	}
	if seen2 != dups || next != n {
		t.Errorf("saw %d adjacent duplicates and %d ids; want %d, %d", seen2, next, dups, n)
	}
}

func TestReorder(t *testing.T) {
	const n = 10000
	got, st := run(t, Config{Reorder: 0.05}, n, size64)
	if uint64(len(got)) != n || st.Delivered != n || st.Held != 0 {
		t.Fatalf("stats %+v, received %d; want all %d (nothing lost)", st, len(got), n)
	}
	seen := make([]bool, n)
	descents := uint64(0)
	for i, f := range got {
		if seen[id(f)] {
			t.Fatalf("id %d twice", id(f))
		}
		seen[id(f)] = true
		if i > 0 && id(f) < id(got[i-1]) {
			descents++
			if id(got[i-1]) != id(f)+1 {
				t.Fatalf("frame %d: %d after %d: moved by more than one place", i, id(f), id(got[i-1]))
			}
		}
	}
	if descents != st.Reordered || st.Reordered < 300 {
		t.Errorf("%d swaps seen, Reordered %d", descents, st.Reordered)
	}
}

func TestCorrupt(t *testing.T) {
	const n = 10000
	got, st := run(t, Config{Corrupt: 0.01}, n, func(i int) int { return 60 + i%100 })
	r := prng()
	var wantBits []int // -1: intact
	for i := range n {
		b := -1
		if r.Float64() < 0.01 {
			b = r.IntN((60 + i%100) * 8)
		}
		wantBits = append(wantBits, b)
	}
	if uint64(len(got)) != n {
		t.Fatalf("received %d", len(got))
	}
	var corrupted uint64
	for i, f := range got {
		orig := frameN(i, 60+i%100)
		diff := 0
		for k := range f {
			diff += bits.OnesCount8(f[k] ^ orig[k])
		}
		if b := wantBits[i]; b >= 0 {
			corrupted++
			if diff != 1 || f[b/8] == orig[b/8] {
				t.Fatalf("frame %d: %d bits differ; want bit %d flipped", i, diff, b)
			}
		} else if diff != 0 {
			t.Fatalf("frame %d: %d bits differ; want intact", i, diff)
		}
	}
	if corrupted != st.Corrupted || corrupted < 50 {
		t.Errorf("Corrupted = %d; predicted %d", st.Corrupted, corrupted)
	}
}

func TestMTUClamp(t *testing.T) {
	const n = 1000
	got, st := run(t, Config{MTU: 1000}, n, func(i int) int { return 1000 + i%30 })
	var over uint64
	for i := range n {
		if 1000+i%30 > 1014 {
			over++
		}
	}
	if st.MTU != over || uint64(len(got)) != n-over {
		t.Fatalf("MTU drops %d, received %d; want %d, %d", st.MTU, len(got), over, n-over)
	}
	for _, f := range got {
		if len(f) > 1014 {
			t.Fatalf("%d-byte frame passed the clamp", len(f))
		}
	}
}

// TestOutage: one frame every 100 ms for 5 s, outage from 1 s for 2 s:
// exactly the 20 frames inside are dropped (fake time: synctest).
func TestOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := nic.NewPipe(1500, 64)
		f := Wrap(a, Config{Outages: []Window{{Start: time.Second, Len: 2 * time.Second}}}, seed)
		defer b.Close()
		defer f.Close()
		for i := range 50 {
			send(t, f, frameN(i, 64))
			time.Sleep(100 * time.Millisecond)
		}
		st := f.Stats()
		if st.Outage != 20 || st.Delivered != 30 {
			t.Fatalf("stats %+v; want Outage 20, Delivered 30", st)
		}
		wantGap(t, recvN(t, b, 30), 10, 20)
	})
}

// TestRestartWindows: a window counts from RestartWindows, not Wrap: a
// window at 1-2 s, restarted 2.5 s after Wrap, drops exactly the 10 frames
// sent 1-2 s after the restart (fake time: synctest).
func TestRestartWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := nic.NewPipe(1500, 64)
		f := Wrap(a, Config{Outages: []Window{{Start: time.Second, Len: time.Second}}}, seed)
		defer b.Close()
		defer f.Close()
		time.Sleep(2500 * time.Millisecond)
		f.RestartWindows()
		for i := range 30 {
			send(t, f, frameN(i, 64))
			time.Sleep(100 * time.Millisecond)
		}
		if st := f.Stats(); st.Outage != 10 || st.Delivered != 20 {
			t.Fatalf("stats %+v; want Outage 10, Delivered 20", st)
		}
		wantGap(t, recvN(t, b, 20), 10, 10)
	})
}

// TestDelay: every frame arrives exactly Delay after it was sent, in
// order (fake time: synctest).
func TestDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := nic.NewPipe(1500, 64)
		const delay = 250 * time.Millisecond
		f := Wrap(a, Config{Delay: delay}, seed)
		defer b.Close()
		defer f.Close()
		start := time.Now()
		type arrival struct {
			id int
			at time.Duration
		}
		arrivals := make(chan arrival, 20)
		go func() {
			bufs, sizes := [][]byte{make([]byte, 1514)}, []int{0}
			for range 20 {
				if _, err := b.Recv(bufs, sizes); err != nil {
					return
				}
				arrivals <- arrival{id(bufs[0][:sizes[0]]), time.Since(start)}
			}
		}()
		for i := range 10 { // two frames every 30 ms
			send(t, f, frameN(2*i, 64), frameN(2*i+1, 64))
			time.Sleep(30 * time.Millisecond)
		}
		for i := range 20 {
			a := <-arrivals
			if want := time.Duration(i/2)*30*time.Millisecond + delay; a.id != i || a.at != want {
				t.Errorf("arrival %d: id %d at %v; want id %d at %v", i, a.id, a.at, i, want)
			}
		}
		if st := f.Stats(); st.Delayed != 20 || st.Delivered != 20 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{Loss: -0.1}, {Duplicate: 1.5}, {Delay: -1}, {Outages: []Window{{0, 0}}}, {MTU: -1}} {
		if c.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", c)
		}
	}
	a, b := nic.NewPipe(100, 1)
	f := Wrap(a, Config{}, 1)
	b.Close()
	f.Close()
	if _, err := f.Send([][]byte{make([]byte, 20)}); !errors.Is(err, nic.ErrClosed) {
		t.Errorf("Send after Close = %v", err)
	}
}

func send(t *testing.T, n nic.NIC, frames ...[]byte) {
	t.Helper()
	if k, err := n.Send(frames); k != len(frames) || err != nil {
		t.Fatalf("Send = %d, %v", k, err)
	}
}

func recvN(t *testing.T, n nic.NIC, want int) [][]byte {
	t.Helper()
	bufs, sizes := make([][]byte, 8), make([]int, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 1514)
	}
	var got [][]byte
	for len(got) < want {
		k, err := n.Recv(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i := range k {
			got = append(got, bytes.Clone(bufs[i][:sizes[i]]))
		}
	}
	return got
}

// wantGap checks that frames got are ids 0..at-1, then at+gap onwards: an
// outage dropped the gap frames from id at.
func wantGap(t *testing.T, got [][]byte, at, gap int) {
	t.Helper()
	for i, g := range got {
		want := i
		if i >= at {
			want = i + gap
		}
		if id(g) != want {
			t.Fatalf("frame %d is id %d; want %d", i, id(g), want)
		}
	}
}
