package main

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinaryInjectGroundLinkFailed: a frame to the ground, from a switch
// whose --downlink points at a UDP port nobody listens on, is refused by
// the ground's ICMP error after it left; inject --wait hears the switch's
// ERROR Link_failed and exits with status 4, for the ground's APID and for
// 0x000 alike, and the switch's counters take both back.
func TestBinaryInjectGroundLinkFailed(t *testing.T) {
	p := startRun(t, 3, "--downlink", "udp://"+freeUDP(t))
	for _, tc := range []struct {
		dest string
		want string // the ERROR line inject prints
	}{
		{"0x7F0", "ERROR Link_failed (0x0A) from 0x000: offending type TM, apid 0x010, payload_length 4\n"},
		{"0x000", "ERROR Link_failed (0x0A) from 0x000: offending type TM, apid 0x010, payload_length 4\n"},
	} {
		t.Run(tc.dest, func(t *testing.T) {
			out, code := inject(t, "--type", "TM", "--apid", "0x010", "--dest", tc.dest, "--payload", "down", "--socket", p.sock("camera"), "--wait", "1s")
			want := "handed to the switch: TM from 0x010 to " + tc.dest + ", 4 payload bytes; reading what comes back for 1s\n" +
				tc.want + "spacenet: the switch refused the frame: Link_failed (0x0A)\n"
			if code != exitRefused || out != want {
				t.Fatalf("status %d, output:\n%s\nwant status %d, output:\n%s", code, out, exitRefused, want)
			}
		})
	}
	if stdout := p.stop(syscall.SIGINT); !strings.Contains(stdout, "refused_by_ground=2") {
		t.Errorf("counters:\n%s", stdout)
	}
}

// TestBinaryInjectUplink: inject --uplink to a UDP port nobody listens on
// hears the ICMP refusal on its connected socket and exits with status 3
// (it printed "sent" and exited 0); to a port somebody reads, the packet
// arrives and inject says it was handed to the network, no more.
func TestBinaryInjectUplink(t *testing.T) {
	dead := freeUDP(t)
	out, code := inject(t, "--type", "TC", "--apid", "0x7F0", "--dest", "0x020", "--payload", "x", "--uplink", "udp://"+dead)
	want := "spacenet: cannot reach the switch's uplink listener at udp://" + dead + ": the packet was refused (ICMP port unreachable: nobody listens there; is the switch running with --uplink-listen udp://" + dead + "?)\n"
	if code != exitNoSwitch || out != want {
		t.Fatalf("dead port: status %d, output:\n%s\nwant status %d, output:\n%s", code, out, exitNoSwitch, want)
	}

	ground, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ground.Close()
	addr := ground.LocalAddr().String()
	out, code = inject(t, "--type", "TC", "--apid", "0x7F0", "--dest", "0x020", "--payload", "x", "--uplink", "udp://"+addr)
	want = "handed to the network: TC from 0x7F0 to 0x020 as a 7-octet plain CCSDS packet to " + addr +
		"; no ICMP refusal within 250ms (the switch counts what it takes in its \"ground\" row)\n"
	if code != 0 || out != want {
		t.Fatalf("live port: status %d, output:\n%s\nwant status 0, output:\n%s", code, out, want)
	}
	buf := make([]byte, 64)
	ground.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := ground.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := buf[:n]; string(got) != "\x10\x20\xC0\x00\x00\x00x" {
		t.Errorf("the ground got %x", got)
	}
}
