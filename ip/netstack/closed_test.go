package netstack

import (
	"net/netip"
	"testing"
)

// TestDeviceClosedCounted: packets the stack sends after its device was
// closed are counted in Stats.DeviceClosed, not lost silently.
func TestDeviceClosedCounted(t *testing.T) {
	for _, sends := range []int{1, 3} {
		end1, end2 := NewPipe(1500, 16)
		ns := mustNew(t, Config{}, end1)
		wake := ns.Wake()
		res := make(chan error, 1)
		go func() {
			ctx := ctxT(t)
			if _, err := ns.Request(ctx, SetAddrs{Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}); err != nil {
				res <- err
				return
			}
			if _, err := ns.Request(ctx, SetRoutes{Routes: []Route{{Dst: netip.MustParsePrefix("0.0.0.0/0")}}}); err != nil {
				res <- err
				return
			}
			r, err := ns.Request(ctx, UDPBind{Local: netip.MustParseAddrPort("10.0.0.1:1000")})
			if err != nil {
				res <- err
				return
			}
			end2.Close() // the device goes away under the stack
			for range sends {
				if _, err := ns.Request(ctx, UDPSend{Handle: r.(Bound).Handle, To: netip.MustParseAddrPort("10.0.0.2:80"), Buf: []byte("lost")}); err != nil {
					res <- err
					return
				}
			}
			res <- nil
		}()
		done := false
		for !done {
			ns.Poll()
			select {
			case err := <-res:
				if err != nil {
					t.Fatal(err)
				}
				done = true
			case <-wake:
			}
		}
		ns.Poll()
		ns.PollDeviceIO()
		if got := ns.Stats().DeviceClosed; got != uint64(sends) {
			t.Errorf("%d sends after close: DeviceClosed = %d, want %d (%+v)", sends, got, sends, ns.Stats())
		}
	}
}
