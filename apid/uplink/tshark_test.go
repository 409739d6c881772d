package uplink

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"spacenet/apid/apidswitch"
	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/sysmsg"
	"spacenet/ipc/ipcframe"
)

// tsharkPath returns tshark's path, or skips the test (scripts/deps.sh
// installs it).
func tsharkPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark missing: run scripts/deps.sh as root")
	}
	return p
}

// The UDP ports the capture shows: the ground's (telemetry goes there) and
// the switch's uplink listener (commands go there).
const (
	pcapGroundPort = 10000
	pcapUplinkPort = 10001
)

// datagram is one UDP payload of the capture and the port it went to.
type datagram struct {
	port    uint16
	payload []byte
}

// writePcap writes the datagrams into an Ethernet capture at path, each in
// a synthesized IPv4/UDP packet from 127.0.0.1:9999 to 127.0.0.1:port, one
// second apart from a fixed start.
func writePcap(t *testing.T, path string, ds []datagram) {
	t.Helper()
	w, start := newPcap(t, path, layers.LinkTypeEthernet)
	for i, d := range ds {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(127, 0, 0, 1), DstIP: net.IPv4(127, 0, 0, 1)}
		udp := &layers.UDP{SrcPort: 9999, DstPort: layers.UDPPort(d.port)}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(d.payload)); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Second), CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
	}
}

// tsharkFields runs tshark's own CCSDS dissector on the capture at path
// (both ports decoded as CCSDS) and returns one line per packet: the fields
// named, separated by "|".
func tsharkFields(t *testing.T, path string, fields ...string) []string {
	t.Helper()
	// The dissector's ISS secondary header has a flag saying a 16-bit
	// checkword ends the packet; cFE's headers have none, so the flag is
	// overridden (what a user of Wireshark sets for cFS traffic).
	args := []string{"-r", path, "-o", "ccsds.global_pref_checkword:Override header flag to be false", "-d", fmt.Sprintf("udp.port==%d,ccsds", pcapGroundPort),
		"-d", fmt.Sprintf("udp.port==%d,ccsds", pcapUplinkPort), "-T", "fields", "-E", "separator=|"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(tsharkPath(t), args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user preferences
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// The primary header fields of tshark's dissector, in the order of the
// lines tests expect: version, type, secondary header flag, APID, sequence
// flags, sequence count, packet length (the data length field).
var primaryFields = []string{"ccsds.version", "ccsds.type", "ccsds.secheader", "ccsds.apid",
	"ccsds.seqflag", "ccsds.seqnum", "ccsds.length"}

// groundCapture runs a switch whose downlink (layout l, clock fixed) sends
// to a real UDP socket, has camera send frames to the ground, and returns
// what the ground received, in order.
func groundCapture(t *testing.T, l ccsds.Layout, clock func() time.Time, frames []frame.Frame) [][]byte {
	t.Helper()
	ground, u := udpGround(t)
	sw := startSwitchCfg(t, apidswitch.Config{Downlink: u, Layout: l, Clock: clock})
	sendAs(t, sw, "camera", frames)
	var got [][]byte
	buf := make([]byte, 2048)
	ground.SetReadDeadline(time.Now().Add(timeout))
	for range frames {
		n, err := ground.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, append([]byte(nil), buf[:n]...))
	}
	return got
}

// TestTsharkPlain: Wireshark's own CCSDS dissector reads the plain
// layout's telemetry, as the switch sent it over real UDP, and a command
// built by hand, with every primary header field and the user data as
// sent.
func TestTsharkPlain(t *testing.T) {
	var frames [3]frame.Frame
	frame.Encode(&frames[0], frame.TM, 0x010, 0x000, []byte("hello, ground"))
	frame.Encode(&frames[1], frame.EVR, 0x010, 0x7F0, []byte("event number 2"))
	frame.Encode(&frames[2], frame.TM, 0x01F, 0x500, nil)
	tm := groundCapture(t, ccsds.Plain, nil, frames[:])
	tc := unhexT(t, "1020 C02A 000B | 7365742070617261203D2031") // "set para = 1" to 0x020, count 42
	path := filepath.Join(t.TempDir(), "plain.pcap")
	writePcap(t, path, []datagram{{pcapGroundPort, tm[0]}, {pcapGroundPort, tm[1]}, {pcapGroundPort, tm[2]}, {pcapUplinkPort, tc}})
	got := tsharkFields(t, path, append(primaryFields, "ccsds.user_data", "_ws.malformed")...)
	want := []string{
		"0|0|0|16|3|0|12|" + hex.EncodeToString([]byte("hello, ground")) + "|",
		"0|0|0|16|3|1|13|" + hex.EncodeToString([]byte("event number 2")) + "|",
		// Wireshark's dissector assumes at least 10 octets after the
		// primary header (an ISS secondary header) and calls a shorter
		// packet malformed, after decoding its primary header.
		"0|0|0|31|3|0|0||[Malformed Packet: CCSDS],_ws.malformed",
		"0|1|0|32|3|42|11|" + hex.EncodeToString([]byte("set para = 1")) + "|",
	}
	checkLines(t, got, want)
}

// TestTsharkCFS: the dissector reads the cfs layout's telemetry: the
// primary header, the time's seconds as its coarse time and the top octet
// of the subseconds as its fine time (its ISS secondary header is 10
// octets, as cFE's 6 of time and 4 spare), then the user data. Of a cFS
// command it reads the primary header; the 2-octet secondary header and the
// data follow as sent (its dissector knows no cFE command header).
func TestTsharkCFS(t *testing.T) {
	// 2000-01-01T00:00:00.75Z: 631152000 s after cFE's epoch, 0xC000 subseconds.
	clock := func() time.Time { return time.Date(2000, 1, 1, 0, 0, 0, 750_000_000, time.UTC) }
	var frames [2]frame.Frame
	frame.Encode(&frames[0], frame.TM, 0x011, 0x000, []byte("hello"))
	frame.Encode(&frames[1], frame.Health, 0x012, 0x000, []byte("ok"))
	tm := groundCapture(t, ccsds.CFS, clock, frames[:])
	if want := "0811c000000e259e9d80c00000000000" + hex.EncodeToString([]byte("hello")); hex.EncodeToString(tm[0]) != want {
		t.Fatalf("cfs telemetry %x\nwant            %s", tm[0], want)
	}
	// Function code 3 and "set mode = safe", count 7; the checksum octet
	// 0x7E (0xFF XOR every other octet, worked with python3) is checked below.
	tc := unhexT(t, "1820 C007 0010 | 03 7E | 736574206D6F6465203D2073616665")
	if !ccsds.CFSChecksumOK(tc) {
		t.Fatalf("checksum 0x7E wrong: want 0x%02X", ccsds.CFSChecksum(tc))
	}
	path := filepath.Join(t.TempDir(), "cfs.pcap")
	writePcap(t, path, []datagram{{pcapGroundPort, tm[0]}, {pcapGroundPort, tm[1]}, {pcapUplinkPort, tc}})
	got := tsharkFields(t, path, append(primaryFields, "ccsds.coarse_time", "ccsds.fine_time", "ccsds.user_data")...)
	want := []string{
		"0|0|1|17|3|0|14|631152000|192|" + hex.EncodeToString([]byte("hello")),
		"0|0|1|18|3|0|11|631152000|192|" + hex.EncodeToString([]byte("ok")),
		// The dissector reads its own 10-octet command secondary header over
		// cFE's 2 octets and the first 8 of data: its "coarse time" is the
		// function code, the checksum and "se"; its user data starts at 16.
		"0|1|1|32|3|7|16|" + fmt.Sprint(binary.BigEndian.Uint32(tc[6:])) + "|" + fmt.Sprint(tc[10]) + "|" + hex.EncodeToString(tc[16:]),
	}
	checkLines(t, got, want)
}

// TestTsharkSpacenet: the dissector reads the spacenet layout too: every
// primary header field (the packet's APID is the frame's source), the
// frame's own 8-octet header and payload as its user data, for telemetry
// the switch sent over real UDP and a command from the ground.
func TestTsharkSpacenet(t *testing.T) {
	var frames [2]frame.Frame
	frame.Encode(&frames[0], frame.TM, 0x010, 0x000, []byte("hello, ground"))
	frame.Encode(&frames[1], frame.EVR, 0x01F, 0x7F0, []byte("event two"))
	tm := groundCapture(t, ccsds.Spacenet, nil, frames[:])
	var cmd frame.Frame
	frame.Encode(&cmd, frame.TC, 0x7F0, 0x020, []byte("set para = 1"))
	var tc [ccsds.MaxPacketSize]byte
	n, err := ccsds.Wrap(tc[:], &cmd, 9)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "spacenet.pcap")
	writePcap(t, path, []datagram{{pcapGroundPort, tm[0]}, {pcapGroundPort, tm[1]}, {pcapUplinkPort, tc[:n]}})
	got := tsharkFields(t, path, append(primaryFields, "ccsds.user_data", "_ws.malformed")...)
	inner := func(f *frame.Frame) string { return hex.EncodeToString(f[:frame.HeaderSize+int(f.PayloadLen())]) }
	checkLines(t, got, []string{
		"0|0|0|16|3|0|20|" + inner(&frames[0]) + "|",
		"0|0|0|31|3|0|16|" + inner(&frames[1]) + "|",
		"0|1|0|2032|3|9|19|" + inner(&cmd) + "|",
	})
}

func checkLines(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("tshark gave %d lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("packet %d: tshark %q\n          want   %q", i+1, got[i], want[i])
		}
	}
}

// unhexT decodes hex with spaces and "|" as separators.
func unhexT(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "|", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFramePcap writes each record (one or more whole frames) into a
// capture of link type USER0 (DLT 147), as frames on a tenant's socket.
func writeFramePcap(t *testing.T, path string, records [][]byte) {
	t.Helper()
	w, start := newPcap(t, path, layers.LinkType(147))
	for i, r := range records {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Second), CaptureLength: len(r), Length: len(r)}
		if err := w.WritePacket(ci, r); err != nil {
			t.Fatal(err)
		}
	}
}

// tsharkLua runs tshark with contrib/wireshark/spacenet.lua on the capture
// and returns one line per packet of the fields, "|" between fields and ","
// between occurrences.
func tsharkLua(t *testing.T, path string, extra []string, fields ...string) []string {
	t.Helper()
	lua, err := filepath.Abs("../../contrib/wireshark/spacenet.lua")
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-X", "lua_script:" + lua, "-r", path}, extra...)
	args = append(args, "-T", "fields", "-E", "separator=|", "-E", "aggregator=,")
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(tsharkPath(t), args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.Contains(stderr.String(), "Lua") {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestLuaDissector: contrib/wireshark/spacenet.lua decodes (1) the
// spacenet layout's packets, as the switch sent them over real UDP, with
// the inner frame and an IPC sub-header, and (2) frames as a tenant's
// socket carries them (two frames in one record, an ERROR the switch sent
// with its echo, the switch's HEALTH reply), every field as sent: the
// packet's primary header, the frame's header, payload and padding, the IPC
// sub-header with its magic.
func TestLuaDissector(t *testing.T) {
	tsharkPath(t)
	var tm, ipcReq frame.Frame
	frame.Encode(&tm, frame.TM, 0x010, 0x000, []byte("hello"))
	fs, err := ipcframe.Append(nil, ipcframe.Request, 0x011, 0x7F0, 7, []byte("ping"))
	if err != nil {
		t.Fatal(err)
	}
	ipcReq = fs[0]
	pkts := groundCapture(t, ccsds.Spacenet, nil, []frame.Frame{tm, ipcReq})
	path := filepath.Join(t.TempDir(), "spacenet.pcap")
	writePcap(t, path, []datagram{{pcapGroundPort, pkts[0]}, {pcapGroundPort, pkts[1]}})
	got := tsharkLua(t, path, []string{"-d", fmt.Sprintf("udp.port==%d,spacenet", pcapGroundPort)},
		"spacenet.ccsds.version", "spacenet.ccsds.type", "spacenet.ccsds.secheader", "spacenet.ccsds.apid", "spacenet.ccsds.seqflags",
		"spacenet.ccsds.seq", "spacenet.ccsds.length",
		"spacenet.version", "spacenet.type", "spacenet.apid", "spacenet.len", "spacenet.dest", "spacenet.payload", "spacenet.padding",
		"spacenet.ipc.magic", "spacenet.ipc.version", "spacenet.ipc.kind", "spacenet.ipc.id", "spacenet.ipc.total", "spacenet.ipc.offset", "spacenet.ipc.data")
	checkLines(t, got, []string{
		"0|0|0|0x0010|3|0|12|0x01|0x00|0x0010|5|0x0000|" + hex.EncodeToString([]byte("hello")) + "||||||||",
		"0|1|0|0x0011|3|0|25|0x01|0x01|0x0011|18|0x07f0|d1" + "11" + "00000007" + "00000004" + "00000000" + hex.EncodeToString([]byte("ping")) +
			"||0xd1|1|1|7|4|0|" + hex.EncodeToString([]byte("ping")),
	})

	// Frames on camera's socket: what it sent (two in one write) and what
	// the switch answered: an ERROR for a frame from an APID not camera's,
	// the HEALTH reply.
	var forged, ask frame.Frame
	frame.Encode(&forged, frame.TM, 0x020, 0x011, []byte("not camera's APID"))
	frame.Encode(&ask, frame.Health, 0x010, 0x001, nil)
	replies := switchReplies(t, []frame.Frame{forged, ask})
	health, err := sysmsg.ParseHealth(replies[1].Payload())
	if err != nil {
		t.Fatal(err)
	}
	// pad is the padding of a frame with n payload octets, as tshark
	// prints it: zeros to the frame's 256 octets.
	pad := func(n int) string { return strings.Repeat("00", frame.Size-frame.HeaderSize-n) }
	path = filepath.Join(t.TempDir(), "frames.pcap")
	writeFramePcap(t, path, [][]byte{append(forged[:], ask[:]...), replies[0][:], replies[1][:]})
	got = tsharkLua(t, path, nil, "spacenet.type", "spacenet.apid", "spacenet.len", "spacenet.dest", "spacenet.padding",
		"spacenet.error.code", "spacenet.error.type", "spacenet.error.apid", "spacenet.error.len", "spacenet.error.echo",
		"spacenet.health.format", "spacenet.health.count", "spacenet.health.uptime", "spacenet.health.apid",
		"spacenet.health.generation", "spacenet.health.connected", "spacenet.health.queue")
	checkLines(t, got, []string{
		"0x00,0x07|0x0020,0x0010|17,0|0x0011,0x0001|" + pad(17) + "," + pad(0) + "||||||||||||",
		"0x09|0x0000|24|0x0020|" + pad(24) + "|0x04|0x00|0x0020|17|" + hex.EncodeToString([]byte("not camera's API")) + "|||||||",
		fmt.Sprintf("0x07|0x0001|32|0x0010|%s||||||1|3|%d|%s", pad(32), int(health.Uptime.Seconds()), healthFields(health)),
	})
}

// switchReplies runs a v0 switch, has camera send frames and returns the
// frames the switch sends back to camera, one per frame sent.
func switchReplies(t *testing.T, frames []frame.Frame) []frame.Frame {
	t.Helper()
	sw := startSwitch(t, nil, ccsds.Plain)
	cam := sendAs(t, sw, "camera", frames)
	cam.SetReadDeadline(time.Now().Add(timeout))
	out := make([]frame.Frame, len(frames))
	for i := range out {
		if err := cam.ReadFrame(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// healthFields is what the dissector should show of h's tenants (decoded
// by sysmsg.ParseHealth): first APIDs, generations, connected flags,
// queue lengths.
func healthFields(h sysmsg.Health) string {
	var apids, gens, conns, queues []string
	for _, e := range h.Tenants {
		apids = append(apids, fmt.Sprintf("0x%04x", uint16(e.FirstAPID)))
		gens = append(gens, fmt.Sprint(e.Generation))
		c := "0"
		if e.Connected {
			c = "1"
		}
		conns = append(conns, c)
		queues = append(queues, fmt.Sprint(e.QueueLen))
	}
	return strings.Join([]string{strings.Join(apids, ","), strings.Join(gens, ","), strings.Join(conns, ","), strings.Join(queues, ",")}, "|")
}

// newPcap creates a capture file at path of link type lt, closed when the
// test ends, and returns its writer and the time of its first record.
func newPcap(t *testing.T, path string, lt layers.LinkType) (*pcapgo.Writer, time.Time) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65536, lt); err != nil {
		t.Fatal(err)
	}
	return w, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
}

// TestTsharkTCP: what the switch's TCP downlink sent (plain and cfs
// layouts, over a real TCP connection) is written to a capture as TCP
// segments cut so that one packet spans two segments, and Wireshark's own
// CCSDS dissector reads every packet, its primary header fields (and cfs's
// time) and user data as sent, through contrib/wireshark/spacenet.lua's
// ccsds_tcp reassembly (Wireshark's CCSDS dissector registers on UDP ports
// only).
func TestTsharkTCP(t *testing.T) {
	tsharkPath(t)
	// 2000-01-01T00:00:00.75Z: 631152000 s after cFE's epoch, 0xC000 subseconds.
	clock := func() time.Time { return time.Date(2000, 1, 1, 0, 0, 0, 750_000_000, time.UTC) }
	var frames [3]frame.Frame
	frame.Encode(&frames[0], frame.TM, 0x010, 0x000, []byte("first over tcp"))
	frame.Encode(&frames[1], frame.EVR, 0x012, 0x7F0, []byte("second, split across segments"))
	frame.Encode(&frames[2], frame.TM, 0x01F, 0x500, []byte("the third one")) // >= 10 octets: see TestTsharkPlain
	hexOf := func(s string) string { return hex.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		layout ccsds.Layout
		header int      // octets before the user data
		fields []string // after the primary header's
		want   []string // one line per TCP segment; the second carries two packets, aggregated with ","
	}{
		{ccsds.Plain, 6, []string{"ccsds.user_data"}, []string{
			"0|0|0|16|3|0|13|" + hexOf("first over tcp"),
			"0,0|0,0|0,0|18,31|3,3|0,0|28,12|" + hexOf("second, split across segments") + "," + hexOf("the third one"),
		}},
		{ccsds.CFS, 16, []string{"ccsds.coarse_time", "ccsds.fine_time", "ccsds.user_data"}, []string{
			"0|0|1|16|3|0|23|631152000|192|" + hexOf("first over tcp"),
			"0,0|0,0|1,1|18,31|3,3|0,0|38,22|631152000,631152000|192,192|" + hexOf("second, split across segments") + "," + hexOf("the third one"),
		}},
	} {
		t.Run(tc.layout.String(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			d, err := DialTCP("tcp://"+ln.Addr().String(), 8)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			sw := startSwitchCfg(t, apidswitch.Config{Downlink: d, Layout: tc.layout, Clock: clock})
			g, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			sendAs(t, sw, "camera", frames[:])
			size := 0
			for i := range frames {
				size += tc.header + int(frames[i].PayloadLen())
			}
			stream := make([]byte, size)
			g.SetReadDeadline(time.Now().Add(timeout))
			if _, err := io.ReadFull(g, stream); err != nil {
				t.Fatal(err)
			}
			cut := tc.header + int(frames[0].PayloadLen()) + 10 // inside the second packet
			path := filepath.Join(t.TempDir(), "tcp.pcap")
			writeTCPPcap(t, path, pcapGroundPort, [][]byte{stream[:cut], stream[cut:]})
			got := tsharkLua(t, path, []string{"-d", fmt.Sprintf("tcp.port==%d,ccsds_tcp", pcapGroundPort),
				"-o", "ccsds.global_pref_checkword:Override header flag to be false"},
				append(primaryFields, tc.fields...)...)
			checkLines(t, got, tc.want)
		})
	}
}

// writeTCPPcap writes segs as the consecutive segments of one TCP stream
// to port (no handshake: tshark reassembles by sequence number).
func writeTCPPcap(t *testing.T, path string, port uint16, segs [][]byte) {
	t.Helper()
	w, start := newPcap(t, path, layers.LinkTypeEthernet)
	seq := uint32(1000)
	for i, seg := range segs {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IPv4(127, 0, 0, 1), DstIP: net.IPv4(127, 0, 0, 1)}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(port), Seq: seq, Ack: 1, ACK: true, PSH: true, Window: 65535}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(seg)); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Second), CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
		seq += uint32(len(seg))
	}
}

// TestTsharkTCPCommands: commands as a ground system writes them on a TCP
// uplink (plain and cfs layouts, worked by hand, back to back, the second
// split across two segments) are what the switch's TCP listener delivers
// to their owners, and Wireshark's own CCSDS dissector reads each through
// contrib/wireshark/spacenet.lua's ccsds_tcp reassembly: every primary
// header field, and the data (for cfs, as in TestTsharkCFS: the dissector
// reads its own 10-octet command secondary header over cFE's function code,
// checksum and the first 8 octets of data).
func TestTsharkTCPCommands(t *testing.T) {
	tsharkPath(t)
	hexOf := func(s string) string { return hex.EncodeToString([]byte(s)) }
	// cfsFields is what the dissector shows of a cfs command after the
	// primary header: "coarse time", "fine time", user data.
	cfsFields := func(pkt []byte) string {
		return fmt.Sprint(binary.BigEndian.Uint32(pkt[6:])) + "|" + fmt.Sprint(pkt[10]) + "|" + hex.EncodeToString(pkt[16:])
	}
	plain := []string{
		"1020 C000 000B | 7365742070617261203D2031",     // to 0x020, count 0: "set para = 1"
		"1021 C001 000D | 73706C697420636F6D6D616E6421", // to 0x021, count 1: "split command!"
		"102F FFFF 0009 | 6C61737420636D642121",         // to 0x02F, count 0x3FFF: "last cmd!!" (>= 10 octets: see TestTsharkPlain)
	}
	// Checksums: 0xFF XOR every other octet of the packet (worked with
	// python3; ccsds.CFSChecksumOK agrees below).
	cfs := []string{
		"1820 C007 0010 | 03 7E | 736574206D6F6465203D2073616665",     // function code 3: "set mode = safe"
		"1821 C008 0012 | 7F 00 | 73706C69742063667320636F6D6D616E64", // 0x7F: "split cfs command"
		"182F FFFF 000D | 01 D2 | 6C6173742063667320636D64",           // 1: "last cfs cmd"
	}
	for _, tc := range []struct {
		layout ccsds.Layout
		pkts   []string
		want   []string // the payloads the owners get, in order
		fields []string // after the primary header's
		lines  func(pkts [][]byte) []string
	}{
		{ccsds.Plain, plain, []string{"set para = 1", "split command!", "last cmd!!"}, []string{"ccsds.user_data"},
			func([][]byte) []string {
				return []string{
					"0|1|0|32|3|0|11|" + hexOf("set para = 1"),
					"0,0|1,1|0,0|33,47|3,3|1,16383|13,9|" + hexOf("split command!") + "," + hexOf("last cmd!!"),
				}
			}},
		{ccsds.CFS, cfs, []string{"\x03set mode = safe", "\x7Fsplit cfs command", "\x01last cfs cmd"},
			[]string{"ccsds.coarse_time", "ccsds.fine_time", "ccsds.user_data"},
			func(pkts [][]byte) []string {
				a, b := strings.Split(cfsFields(pkts[1]), "|"), strings.Split(cfsFields(pkts[2]), "|")
				return []string{
					"0|1|1|32|3|7|16|" + cfsFields(pkts[0]),
					"0,0|1,1|1,1|33,47|3,3|8,16383|18,13|" + a[0] + "," + b[0] + "|" + a[1] + "," + b[1] + "|" + a[2] + "," + b[2],
				}
			}},
	} {
		t.Run(tc.layout.String(), func(t *testing.T) {
			var pkts [][]byte
			var stream []byte
			for _, h := range tc.pkts {
				p := unhexT(t, h)
				if tc.layout == ccsds.CFS && !ccsds.CFSChecksumOK(p) {
					t.Fatalf("%s: checksum wrong: want 0x%02X", h, ccsds.CFSChecksum(p))
				}
				pkts = append(pkts, p)
				stream = append(stream, p...)
			}
			cut := len(pkts[0]) + 9 // inside the second packet
			path := filepath.Join(t.TempDir(), "tc.pcap")
			writeTCPPcap(t, path, pcapUplinkPort, [][]byte{stream[:cut], stream[cut:]})
			got := tsharkLua(t, path, []string{"-d", fmt.Sprintf("tcp.port==%d,ccsds_tcp", pcapUplinkPort),
				"-o", "ccsds.global_pref_checkword:Override header flag to be false"},
				append(primaryFields, tc.fields...)...)
			checkLines(t, got, tc.lines(pkts))

			delivered := tcpCommands(t, tc.layout, len(pkts), stream[:cut], stream[cut:])
			for i, w := range tc.want {
				var want frame.Frame
				frame.Encode(&want, frame.TC, 0x7F0, frame.APID(binary.BigEndian.Uint16(pkts[i])&0x7FF), []byte(w))
				if delivered[i] != want {
					t.Errorf("command %d: owner got %x, want %x", i+1, delivered[i][:24], want[:24])
				}
			}
		})
	}
}

// tcpCommands runs a v0 switch in layout l with a TCP uplink listener,
// writes segs to it on one connection, one write each, and returns the n
// frames processor (0x020-0x02F) gets.
func tcpCommands(t *testing.T, l ccsds.Layout, n int, segs ...[]byte) []frame.Frame {
	t.Helper()
	sw := startSwitch(t, nil, l)
	proc, err := guest.Dial(sw.SocketPath("processor"))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	ln, stop := serveTCPUplink(t, sw, l)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, s := range segs {
		if _, err := c.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]frame.Frame, n)
	proc.SetReadDeadline(time.Now().Add(timeout))
	for i := range out {
		if err := proc.ReadFrame(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	// Processor may read the last command before the listener counts it:
	// read the counts once Serve has ended.
	stop()
	if s, want := ln.Stats(), (ListenerStats{Received: uint64(n), Injected: uint64(n)}); s != want {
		t.Errorf("listener %+v, want %+v", s, want)
	}
	return out
}
