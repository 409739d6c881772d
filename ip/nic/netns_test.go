package nic

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// watchdog closes c if the test has not finished within d, so that a
// missing frame fails the test instead of hanging it.
func watchdog(t testing.TB, c interface{ Close() error }, d time.Duration) {
	timer := time.AfterFunc(d, func() { c.Close() })
	t.Cleanup(func() { timer.Stop() })
}

// recvUntil receives frames from n until match accepts one, and returns it.
func recvUntil(t *testing.T, n NIC, what string, match func([]byte) bool) []byte {
	t.Helper()
	bufs, sizes := makeBufs(8, 65536)
	for {
		k, err := n.Recv(bufs, sizes)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		for i := range k {
			if f := bufs[i][:sizes[i]]; match(f) {
				return bytes.Clone(f)
			}
		}
	}
}

var testMAC = [6]byte{0x02, 0x53, 0x4e, 0x00, 0x00, 0x01} // locally administered

// isARPRequest reports whether f is an ARP request for target.
func isARPRequest(f []byte, target netip.Addr) bool {
	return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == 0x0806 &&
		binary.BigEndian.Uint16(f[20:]) == 1 && netip.AddrFrom4([4]byte(f[38:42])) == target
}

// checkARPRequest checks an ARP request byte-wise: Ethernet broadcast from
// the sender's MAC, Ethernet/IPv4 ARP, opcode 1, sender and target IPs.
func checkARPRequest(t *testing.T, f []byte, sender, target netip.Addr) (senderMAC [6]byte) {
	t.Helper()
	copy(senderMAC[:], f[6:12])
	want := make([]byte, 0, 42)
	want = append(want, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	want = append(want, senderMAC[:]...)
	want = append(want, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01)
	want = append(want, senderMAC[:]...)
	want = append(want, sender.AsSlice()...)
	want = append(want, 0, 0, 0, 0, 0, 0)
	want = append(want, target.AsSlice()...)
	if !bytes.Equal(f[:42], want) {
		t.Fatalf("ARP request\n got % x\nwant % x", f[:42], want)
	}
	return senderMAC
}

// arpReply builds an ARP reply telling dstMAC/dstIP that srcIP is at srcMAC,
// padded to the 60-byte Ethernet minimum.
func arpReply(srcMAC, dstMAC [6]byte, srcIP, dstIP netip.Addr) []byte {
	f := make([]byte, 0, 60)
	f = append(f, dstMAC[:]...)
	f = append(f, srcMAC[:]...)
	f = append(f, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02)
	f = append(f, srcMAC[:]...)
	f = append(f, srcIP.AsSlice()...)
	f = append(f, dstMAC[:]...)
	f = append(f, dstIP.AsSlice()...)
	return f[:60]
}

// isUDPTo reports whether f is an IPv4 UDP datagram to dst:port.
func isUDPTo(f []byte, dst netip.Addr, port uint16) bool {
	if len(f) < 14+20+8 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[14+9] != 17 {
		return false
	}
	ihl := int(f[14]&0xf) * 4
	return netip.AddrFrom4([4]byte(f[30:34])) == dst && len(f) >= 14+ihl+8 &&
		binary.BigEndian.Uint16(f[14+ihl+2:]) == port
}

// checkUDP checks an IPv4 UDP frame's IP and UDP checksums and payload.
func checkUDP(t *testing.T, f []byte, payload string) {
	t.Helper()
	ip := f[14:]
	ihl := int(ip[0]&0xf) * 4
	if s := fold(checksum(ip[:ihl], 0)); s != 0xffff {
		t.Errorf("IPv4 header checksum does not verify (sum %#04x)", s)
	}
	total := int(binary.BigEndian.Uint16(ip[2:]))
	udp := ip[ihl:total]
	pseudo := checksum(ip[12:20], 0) + 17 + uint64(len(udp))
	if s := fold(checksum(udp, pseudo)); s != 0xffff {
		t.Errorf("UDP checksum %#04x does not verify (sum %#04x)", binary.BigEndian.Uint16(udp[6:]), s)
	}
	if got := string(udp[8:]); got != payload {
		t.Errorf("UDP payload %q; want %q", got, payload)
	}
}
