package lan_test

import (
	"fmt"

	"spacenet/ip/lan"
	"spacenet/ip/wire"
)

// Two in-process ports, as two network stacks would use them: a broadcast
// from A reaches B; B's reply goes to A alone, its MAC now learned.
func ExampleSwitch_AttachPipe() {
	sw := lan.New(lan.Options{})
	defer sw.Close()
	a, _ := sw.AttachPipe("stack-a", "camera")
	b, _ := sw.AttachPipe("stack-b", "processor")

	macA, macB := wire.LocalMAC(1), wire.LocalMAC(2)
	frame := func(dst, src wire.MAC, text string) []byte {
		f := make([]byte, 60)
		copy(f, dst[:])
		copy(f[6:], src[:])
		f[12], f[13] = 0x88, 0xb5 // local experimental EtherType
		copy(f[14:], text)
		return f
	}
	a.Send([][]byte{frame(wire.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, macA, "hello, who is there?")})
	bufs, sizes := [][]byte{make([]byte, 1514)}, []int{0}
	b.Recv(bufs, sizes)
	fmt.Printf("b got %d bytes from %v: %s\n", sizes[0], wire.MAC(bufs[0][6:12]), bufs[0][14:34])

	b.Send([][]byte{frame(macA, macB, "processor here")})
	a.Recv(bufs, sizes)
	fmt.Printf("a got %s\n", bufs[0][14:28])
	st, _ := sw.Port("stack-a")
	fmt.Printf("stack-a: rx %d tx %d; switch knows %d MACs\n", st.RxFrames, st.TxFrames, sw.Stats().MACs)
	// Output:
	// b got 60 bytes from 02:53:4e:00:00:01: hello, who is there?
	// a got processor here
	// stack-a: rx 1 tx 1; switch knows 2 MACs
}
