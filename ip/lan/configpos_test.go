package lan

import (
	"strings"
	"testing"
)

// TestParseConfigErrorLines: every error names the file and the line of
// the offending key (or of its [[port]] or [[tenant]] header when the key
// is missing), as policy errors do: FILE:LINE: port N ("NAME"): FIELD ...
func TestParseConfigErrorLines(t *testing.T) {
	file := `ageing = "soon"
colour = "blue"

[[tenant]]
name = "a"
can_reach = ["zz"]

[[port]]
name = "cam"
tenant = "a"
kind = "tap"
ifname = "x"

[[port]]
name = "cam2"
tenant = "b"
kind = "usb"
mac = "ff:ff:ff:ff:ff:ff"
ips = ["0.0.0.0"]
[port.fault]
loss = 2.0
delay = "x"
Name = 3

[[port]]
tenant = "a"
kind = "qemu-stream"
`
	want := []string{
		`t.toml:2: unknown key "colour"`,
		`t.toml:23: unknown key "port.fault.Name"`,
		`t.toml:1: ageing "soon": want a non-negative duration such as "300s"`,
		`t.toml:6: tenant "a": can_reach "zz": no such tenant`,
		`t.toml:16: port 2 ("cam2"): tenant "b" not declared`,
		`t.toml:17: port 2 ("cam2"): kind "usb": want qemu-stream, qemu-dgram, tap, packet or vxlan`,
		`t.toml:18: port 2 ("cam2"): mac ff:ff:ff:ff:ff:ff is a group address`,
		`t.toml:19: port 2 ("cam2"): ips: "0.0.0.0" is not a unicast IP address`,
		`t.toml:22: port 2 ("cam2"): fault.delay "x": want a non-negative duration such as "300s"`,
		`t.toml:21: port 2 ("cam2"): fault: loss 2 not in [0, 1]`,
		`t.toml:25: port 3 (""): name missing`,
		`t.toml:27: port 3 (""): kind qemu-stream needs path`,
	}
	_, err := ParseConfig("t.toml", []byte(file))
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	if _, err := ParseConfig("t.toml", []byte("mtu = 1\n\nageing = \n")); err == nil || err.Error() != "t.toml:3: expected value but found '\\n' instead" {
		t.Errorf("syntax error: %v", err)
	}
}
