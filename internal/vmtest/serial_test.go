package vmtest_test

import (
	"strings"
	"testing"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/policy"
	"spacenet/internal/vmtest"
)

// noise is what the guest writes to its serial port before a program of
// the guest library opens it: bytes on the line that are not frames (a
// stray echo, a boot message).
const noise = "noise before the program opens the port"

// TestSerialGuest: a 16550 serial port (the guest's /dev/ttyS1, which
// QEMU carries to the switch's camera socket) under the guest library,
// which puts it in raw mode. First two round trips: spacenet inject sends a
// HEALTH request and prints the switch's reply, then a "ping" to the
// processor on the host, which answers "pong" through the UART. Then 39 bytes of text reach
// the line before the next program opens the port, and three frames
// follow ("one", "two", "three", one inject each): the switch (camera has
// resync set) refuses the first misaligned frame (the noise and the start
// of "one"), finds the second misaligned as well, skips the 39 bytes to
// the header of "two", and delivers "two" and "three" to the processor.
// Every count is exact. (Without resync every frame after the noise is
// refused: apidswitch's TestResyncExact, "resync off".)
func TestSerialGuest(t *testing.T) {
	needQEMU(t)
	img := cameraImage(t)
	p := policy.Default()
	p.Tenants[0].Flow.Resync = true // camera
	e := startSwitchPolicy(t, p)
	proc, err := guest.Dial(e.sw.SocketPath("processor"))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	con := &console{}
	vm := startVM(t, "serial guest", vmtest.VMConfig{
		Image:   img,
		Serial:  e.sw.SocketPath("camera"),
		Console: con,
		Run: `tty=/dev/ttyS1
spacenet inject --device $tty --type HEALTH --apid 0x010 --dest 0x001 --wait 2s; echo "health: exit $?"
spacenet inject --device $tty --type TM --apid 0x010 --dest 0x020 --payload ping --wait 5s; echo "ping: exit $?"
printf '` + noise + `' > $tty
for p in one two three; do spacenet inject --device $tty --type TM --apid 0x010 --dest 0x020 --payload $p; done
echo "serial: done"
`,
	})
	for _, want := range []string{"ping", "two", "three"} {
		proc.SetReadDeadline(time.Now().Add(testTimeout))
		var f frame.Frame
		if err := proc.ReadFrame(&f); err != nil {
			t.Fatalf("processor: %v", err)
		}
		var w frame.Frame
		frame.Encode(&w, frame.TM, 0x010, 0x020, []byte(want))
		if f != w {
			t.Fatalf("processor got %s %v->%v %q, want %q", f.Type(), f.APID(), f.Dest(), f.Payload(), want)
		}
		if want == "ping" { // answered through the guest's UART
			frame.Encode(&w, frame.TM, 0x020, 0x010, []byte("pong"))
			if err := proc.WriteFrame(&w); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := vm.Wait(); err != nil {
		t.Fatalf("guest: %v", err)
	}
	out := con.String()
	for _, line := range []string{"HEALTH from 0x001: uptime ", "[0x010 gen 1 connected true", "health: exit 0",
		`TM from 0x020 to 0x010, 4 bytes: "pong"`, "ping: exit 0", "serial: done"} {
		if !strings.Contains(out, line) {
			t.Errorf("the guest's console lacks %q", line)
		}
	}
	c := e.counters(t, "camera")
	var want apidswitch.Counters
	want.Tenant, want.Generation = "camera", 1
	want.Received, want.DeliveredSystem, want.Delivered = 5, 1, 3
	want.Dropped[frame.UnknownVersion] = 1
	want.Resyncs, want.SkippedBytes = 1, uint64(len(noise))
	// Notices: the HEALTH reply and the ERROR for the refused frame
	// (which the guest never reads: how many QEMU took before it exited
	// is not this test's business).
	want.NoticesQueued = 2
	c.Connected, c.NoticesDelivered, c.QueueLen = false, 0, 0
	if c != want {
		t.Errorf("camera's counters %+v\nwant %+v", c, want)
	}
	if c := e.counters(t, "processor"); c.Received != 1 || c.Delivered != 1 || c.NoticesLost != 0 {
		t.Errorf("processor's counters %+v: want its pong delivered", c)
	}
}
