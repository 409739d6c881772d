package lan_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"spacenet/ip/lan"
)

// TestRunSweepsAndFlushes: a running LAN writes out its pcap buffer and
// ages out its MAC table every SweepInterval, on a fake clock, and Run
// returns nil once its context ends, the ports still open for Report.
func TestRunSweepsAndFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "lan.pcap")
		l, err := lan.Open(&lan.Config{Ageing: 45 * time.Second}, path, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		a, err := l.Switch.AttachMem(lan.PortConfig{Name: "a", Tenant: "camera", NoSticky: true}) // not sticky: its MAC can age out
		if err != nil {
			t.Fatal(err)
		}
		b, err := l.Switch.AttachMem(lan.PortConfig{Name: "b", Tenant: "processor", NoSticky: true})
		if err != nil {
			t.Fatal(err)
		}
		f := make([]byte, 60)
		copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x53, 0x4e, 0, 0, 1, 0x88, 0xb5})
		if n, err := a.Send([][]byte{f}); n != 1 || err != nil {
			t.Fatalf("send: %d %v", n, err)
		}
		bufs, sizes := [][]byte{make([]byte, 1514)}, []int{0}
		if n, err := b.Recv(bufs, sizes); n != 1 || err != nil || sizes[0] != 60 {
			t.Fatalf("recv: %d %v %d", n, err, sizes[0])
		}
		size := func() int64 {
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			return st.Size()
		}
		if got := size(); got != 0 {
			t.Fatalf("pcap file before the first sweep: %d bytes, want 0 (buffered)", got)
		}

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		time.Sleep(lan.SweepInterval)
		synctest.Wait()
		// pcap file header 24, record header 16, the frame 60.
		if got, macs := size(), l.Switch.Stats().MACs; got != 24+16+60 || macs != 1 {
			t.Fatalf("after one sweep: pcap %d bytes, want 100; %d MACs, want 1", got, macs)
		}
		time.Sleep(lan.SweepInterval)
		synctest.Wait()
		if macs := l.Switch.Stats().MACs; macs != 0 {
			t.Fatalf("after 60 s (ageing 45 s): %d MACs, want 0", macs)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if st, ok := l.Switch.Port("a"); !ok || st.RxFrames != 1 {
			t.Fatalf("port a after Run: %+v %v", st, ok)
		}
	})
}
