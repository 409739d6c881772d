package lan

import (
	"bytes"
	"encoding/binary"
	"io"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

// waitFor polls cond until it holds (fails the test after 10 s): for
// conditions that only counters show, such as a socket peer being accepted.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

const etherHello = 0x88b6 // frames clients send to be seen; receivers skip them

// recvData receives frames from n, skipping hellos, until one arrives.
func recvData(t *testing.T, n nic.NIC) []byte {
	t.Helper()
	bufs, sizes := [][]byte{make([]byte, 1514)}, []int{0}
	for {
		k, err := n.Recv(bufs, sizes)
		if err != nil {
			t.Fatalf("%s: %v", n.Name(), err)
		}
		if k == 1 && binary.BigEndian.Uint16(bufs[0][12:]) != etherHello {
			return bytes.Clone(bufs[0][:sizes[0]])
		}
	}
}

// hello sends a hello from mac on n and waits until the switch has
// received it on port (so the port's peer is connected and mac learned).
func hello(t *testing.T, s *Switch, port string, n nic.NIC, mac wire.MAC) {
	t.Helper()
	send(t, n, eth(bcast, mac, etherHello, nil, 60))
	waitFor(t, "hello on "+port, func() bool { st, _ := s.Port(port); return st.RxFrames >= 1 })
}

// TestQEMUSockets runs the LAN of a configuration file with two
// qemu-stream ports and a qemu-dgram port, and our own QEMU-framing
// clients exchange frames through it, byte for byte.
func TestQEMUSockets(t *testing.T) {
	dir := t.TempDir()
	conf := `
[[tenant]]
name = "camera"
can_reach = ["processor", "spaceos"]
[[tenant]]
name = "processor"
can_reach = ["camera", "spaceos"]
[[tenant]]
name = "spaceos"
can_reach = ["camera", "processor"]

[[port]]
name = "camera"
tenant = "camera"
kind = "qemu-stream"
path = "` + dir + `/camera.sock"
mac = "02:53:4e:00:00:0a"

[[port]]
name = "processor"
tenant = "processor"
kind = "qemu-stream"
path = "` + dir + `/processor.sock"

[[port]]
name = "spaceos"
tenant = "spaceos"
kind = "qemu-dgram"
path = "` + dir + `/spaceos.sock"
peer = "` + dir + `/spaceos-vm.sock"
`
	c, err := ParseConfig("test.toml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(c, filepath.Join(dir, "lan.pcap"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := l.Switch
	cam, err := nic.DialQEMUStream(dir + "/camera.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	proc, err := nic.DialQEMUStream(dir + "/processor.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	osn, err := nic.DialQEMUDgram(dir+"/spaceos.sock", dir+"/spaceos-vm.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer osn.Close()
	hello(t, s, "camera", cam, macA)
	hello(t, s, "processor", proc, macB)
	hello(t, s, "spaceos", osn, macC)

	f := eth(bcast, macA, 0x88b5, []byte("broadcast from the camera"), 1514)
	send(t, cam, f)
	for _, n := range []nic.NIC{proc, osn} {
		if got := recvData(t, n); !bytes.Equal(got, f) {
			t.Fatalf("%s got %d bytes % x...; want the 1514-byte broadcast", n.Name(), len(got), got[:20])
		}
	}
	g := eth(macA, macC, 0x88b5, []byte("unicast from spaceos"), 60)
	send(t, osn, g)
	if got := recvData(t, cam); !bytes.Equal(got, g) {
		t.Fatalf("camera got % x; want % x", got, g)
	}
	// The camera port is locked to its MAC: a spoofed frame goes nowhere.
	send(t, cam, eth(macC, macB, 0x88b5, nil, 60), eth(macC, macA, 0x88b5, []byte("ok"), 60))
	if got := recvData(t, osn); !bytes.Contains(got, []byte("ok")) {
		t.Fatalf("spaceos got % x", got)
	}
	if st, _ := s.Port("camera"); st.RxDrops[ReasonSpoofedMAC] != 1 {
		t.Errorf("camera spoofed_mac = %d; want 1", st.RxDrops[ReasonSpoofedMAC])
	}
	var rep bytes.Buffer
	l.Report(&rep)
	for _, want := range []string{"PORT ", "\ncamera ", "rx:spoofed_mac=1", "switch: 3 MACs", "pcap: "} {
		if !bytes.Contains(rep.Bytes(), []byte(want)) {
			t.Errorf("report lacks %q:\n%s", want, rep.String())
		}
	}
}

// TestSocatStream: socat, an independent implementation of nothing but a
// byte pipe, is a QEMU stream client: we write length-prefixed frames to
// its stdin and read them from its stdout.
func TestSocatStream(t *testing.T) {
	socat, err := exec.LookPath("socat")
	if err != nil {
		t.Skip("socat missing: run scripts/deps.sh")
	}
	dir := t.TempDir()
	s := New(Options{})
	defer s.Close()
	for _, name := range []string{"socat", "ours"} {
		n, err := nic.ListenQEMUStream(filepath.Join(dir, name+".sock"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Attach(n, pc(name, "t")); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(socat, "-t", "0.2", "-", "UNIX-CONNECT:"+filepath.Join(dir, "socat.sock"))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	framed := func(f []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(f))), f...) }
	if _, err := stdin.Write(framed(eth(bcast, macA, etherHello, nil, 60))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "socat's hello", func() bool { st, _ := s.Port("socat"); return st.RxFrames >= 1 })
	ours, err := nic.DialQEMUStream(filepath.Join(dir, "ours.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	hello(t, s, "ours", ours, macB)

	f := eth(bcast, macA, 0x88b5, []byte("from socat"), 300)
	if _, err := stdin.Write(framed(f)); err != nil {
		t.Fatal(err)
	}
	if got := recvData(t, ours); !bytes.Equal(got, f) {
		t.Fatalf("ours got % x", got)
	}
	g := eth(macA, macB, 0x88b5, []byte("to socat"), 1514)
	send(t, ours, g)
	// socat's stdout: our hello (flooded to it), then g, each framed.
	want := append(framed(eth(bcast, macB, etherHello, nil, 60)), framed(g)...)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(stdout, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("socat read % x...; want % x...", got[:24], want[:24])
	}
}

// TestQEMUHub: a real QEMU joins two switches: it connects to a
// qemu-stream port of each (as -netdev stream clients) and relays frames
// between them through a hub (QEMU delivers only while the machine runs:
// no -S). Our clients on the two switches exchange
// frames across QEMU, proving the framing both ways.
func TestQEMUHub(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 missing")
	}
	dir := t.TempDir()
	var sw [2]*Switch
	var clients [2]nic.NIC
	for i := range sw {
		sw[i] = New(Options{})
		defer sw[i].Close()
		q, err := nic.ListenQEMUStream(filepath.Join(dir, "q"+string('0'+rune(i))+".sock"))
		if err != nil {
			t.Fatal(err)
		}
		if err := sw[i].Attach(q, pc("qemu", "t")); err != nil {
			t.Fatal(err)
		}
		a, b := nic.NewPipe(1500, 64)
		if err := sw[i].Attach(b, pc("client", "t")); err != nil {
			t.Fatal(err)
		}
		clients[i] = a
		defer a.Close()
	}
	cmd := exec.Command(qemu, "-nodefaults", "-display", "none", "-machine", "none",
		"-netdev", "stream,id=s0,server=off,addr.type=unix,addr.path="+filepath.Join(dir, "q0.sock"),
		"-netdev", "stream,id=s1,server=off,addr.type=unix,addr.path="+filepath.Join(dir, "q1.sock"),
		"-netdev", "hubport,id=h0,hubid=0,netdev=s0",
		"-netdev", "hubport,id=h1,hubid=0,netdev=s1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// QEMU connects at start; a frame sent before it has is dropped and
	// counted (TxNoPeer), so resend hellos until one crosses.
	macs := [2]wire.MAC{macA, macB}
	for i := range 2 {
		waitFor(t, "QEMU to connect and relay", func() bool {
			if cmd.ProcessState != nil {
				t.Fatalf("qemu exited: %s", stderr.String())
			}
			send(t, clients[i], eth(bcast, macs[i], etherHello, nil, 60))
			st, _ := sw[1-i].Port("qemu")
			return st.RxFrames > 0
		})
	}
	f := eth(macB, macA, 0x88b5, []byte("across QEMU"), 1514)
	send(t, clients[0], f)
	if got := recvData(t, clients[1]); !bytes.Equal(got, f) {
		t.Fatalf("got %d bytes; want the 1514-byte frame", len(got))
	}
	g := eth(macA, macB, 0x88b5, []byte("and back"), 60)
	send(t, clients[1], g)
	if got := recvData(t, clients[0]); !bytes.Equal(got, g) {
		t.Fatalf("got % x; want % x", got, g)
	}
}
