package monitor

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
)

// TestPcapngTshark: a capture of three peers' frames, read by tshark with
// the project's dissector (contrib/wireshark/spacenet.lua): every packet
// on its peer's interface, with its direction, type and APIDs.
func TestPcapngTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (Debian package tshark; scripts/deps.sh)")
	}
	base := time.Unix(1764700000, 123456789)
	recs := []apidswitch.TapRecord{
		{Tenant: "camera", Out: false},
		{Tenant: "processor", Out: true},
		{Tenant: "camera", Out: true},
		{Tenant: "ground", Out: false},
	}
	frame.Encode(&recs[0].Frame, frame.TM, 0x010, 0x020, []byte("hello"))
	recs[1].Frame = recs[0].Frame
	spoof := recs[0].Frame
	spoof.SetAPID(0x020)
	frame.EncodeError(&recs[2].Frame, frame.APIDNotAllocated, &spoof)
	frame.Encode(&recs[3].Frame, frame.TC, 0x7F0, 0x010, []byte("cmd"))
	var buf bytes.Buffer
	p := NewPcapng(&buf)
	for i := range recs {
		recs[i].Time = base.Add(time.Duration(i) * time.Millisecond)
		if err := p.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.pcapng")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	lua, err := filepath.Abs("../../contrib/wireshark/spacenet.lua")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tshark, "-X", "lua_script:"+lua, "-r", path, "-T", "fields", "-E", "separator=|",
		"-e", "frame.interface_name", "-e", "frame.packet_flags_direction", "-e", "frame.len",
		"-e", "spacenet.type", "-e", "spacenet.apid", "-e", "spacenet.dest", "-e", "spacenet.error.code")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no personal Wireshark settings
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	want := []string{
		"camera|0x00000001|256|0x00|0x0010|0x0020|",     // inbound
		"processor|0x00000002|256|0x00|0x0010|0x0020|",  // outbound
		"camera|0x00000002|256|0x09|0x0000|0x0020|0x04", // the ERROR, to the spoofed source
		"ground|0x00000001|256|0x01|0x07f0|0x0010|",
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tshark read\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
