package wire

import (
	"errors"
	"testing"
)

// TestParseRefusals exercises the public Parse functions' failure paths,
// which return a heap *FieldError naming the field.
func TestParseRefusals(t *testing.T) {
	arp := frameOf(t, "ARPRequest")[14:]
	arpHW := append([]byte(nil), arp...)
	arpHW[1] = 6
	arpProto := append([]byte(nil), arp...)
	arpProto[2] = 0x86
	arpPlen := append([]byte(nil), arp...)
	arpPlen[5] = 16
	ipv4 := frameOf(t, "VLANIPv4UDPOpts")[18:]
	optNoLen := append([]byte(nil), ipv4...)
	optNoLen[20], optNoLen[21], optNoLen[22], optNoLen[23] = IPv4OptionNOP, IPv4OptionNOP, IPv4OptionNOP, 0x94
	optZeroLen := append([]byte(nil), ipv4...)
	optZeroLen[21] = 1
	v6 := frameOf(t, "IPv6UDP")[14:]
	jumbo := append([]byte(nil), v6...)
	jumbo[4], jumbo[5], jumbo[6] = 0, 0, ProtoHopByHop
	ns := frameOf(t, "NDPSolicit")[54:]
	tcp := frameOf(t, "IPv4TCPSyn")[34:]
	sackBad := append([]byte(nil), tcp...)
	sackBad[20], sackBad[21] = TCPOptionSACK, 4
	tsBad := append([]byte(nil), tcp...)
	tsBad[26], tsBad[27] = TCPOptionTimestamps, 6
	wsBad := append([]byte(nil), tcp...)
	wsBad[38] = 2
	spBad := append([]byte(nil), tcp...)
	spBad[25] = 3
	zeroLen := append([]byte(nil), tcp...)
	zeroLen[21] = 0

	tests := []struct {
		name         string
		parse        func() error
		layer, field string
		kind         Kind
	}{
		{"ethernet", func() error { _, err := ParseEthernet(make([]byte, 13)); return err }, "ethernet", "header", Truncated},
		{"vlan", func() error { _, err := ParseVLAN(make([]byte, 3)); return err }, "vlan", "tag", Truncated},
		{"arp hw", func() error { _, err := ParseARP(arpHW); return err }, "arp", "hardware_type", Unsupported},
		{"arp proto", func() error { _, err := ParseARP(arpProto); return err }, "arp", "protocol_type", Unsupported},
		{"arp plen", func() error { _, err := ParseARP(arpPlen); return err }, "arp", "protocol_length", Invalid},
		{"ipv4 option no length", func() error { _, err := ParseIPv4(optNoLen); return err }, "ipv4", "option_length", Truncated},
		{"ipv4 option zero length", func() error { _, err := ParseIPv4(optZeroLen); return err }, "ipv4", "option_length", Invalid},
		{"ipv6 short", func() error { _, err := ParseIPv6(v6[:39]); return err }, "ipv6", "header", Truncated},
		{"ipv6 jumbogram", func() error { _, err := ParseIPv6(jumbo); return err }, "ipv6", "payload_length", Unsupported},
		{"udp short", func() error { _, err := ParseUDP(make([]byte, 7)); return err }, "udp", "header", Truncated},
		{"tcp short", func() error { _, err := ParseTCP(tcp[:19]); return err }, "tcp", "header", Truncated},
		{"tcp sack length", func() error { _, err := ParseTCP(sackBad); return err }, "tcp", "sack_length", Invalid},
		{"tcp timestamps length", func() error { _, err := ParseTCP(tsBad); return err }, "tcp", "timestamps_length", Invalid},
		{"tcp window scale length", func() error { _, err := ParseTCP(wsBad); return err }, "tcp", "window_scale_length", Invalid},
		{"tcp sack-permitted length", func() error { _, err := ParseTCP(spBad); return err }, "tcp", "sack_permitted_length", Invalid},
		{"tcp zero option length", func() error { _, err := ParseTCP(zeroLen); return err }, "tcp", "option_length", Invalid},
		{"icmpv4 short", func() error { _, err := ParseICMPv4(make([]byte, 7)); return err }, "icmpv4", "header", Truncated},
		{"icmpv6 short", func() error { _, err := ParseICMPv6(make([]byte, 7)); return err }, "icmpv6", "header", Truncated},
		{"ndp short", func() error { _, err := ParseICMPv6(ns[:20]); return err }, "ndp", "target", Truncated},
		{"ndp option cut", func() error { _, err := ParseICMPv6(ns[:30]); return err }, "ndp", "option_length", Truncated},
		{"ndp option one byte", func() error { _, err := ParseICMPv6(ns[:25]); return err }, "ndp", "option_length", Truncated},
	}
	for _, tt := range tests {
		var fe *FieldError
		err := tt.parse()
		if !errors.As(err, &fe) || fe.Layer != tt.layer || fe.Field != tt.field || fe.Kind != tt.kind {
			t.Errorf("%s: err = %v, want %s %s %v", tt.name, err, tt.layer, tt.field, tt.kind)
		}
	}
}

// TestIPv6ChainLimits: too many extension headers, two fragment headers.
func TestIPv6ChainLimits(t *testing.T) {
	b := make([]byte, IPv6Size+8*(MaxIPv6Ext+1)+8)
	h := IPv6(b)
	h.Encode(&IPv6Fields{PayloadLength: uint16(len(b) - IPv6Size), NextHeader: ProtoDestOpts, HopLimit: 1, Src: s6, Dst: d6})
	for i := 0; i <= MaxIPv6Ext; i++ {
		EncodeIPv6Options(b[IPv6Size+8*i:], ProtoDestOpts, nil)
	}
	var c IPv6Chain
	var fe *FieldError
	if err := c.Parse(h); !errors.As(err, &fe) || fe.Field != "extension_headers" || fe.Kind != Unsupported {
		t.Errorf("%d headers: %v", MaxIPv6Ext+1, err)
	}
	h.SetNextHeader(ProtoFragment)
	IPv6Fragment(b[IPv6Size:]).Encode(ProtoFragment, 0, true, 1)
	IPv6Fragment(b[IPv6Size+8:]).Encode(ProtoUDP, 0, true, 2)
	if err := c.Parse(h); !errors.As(err, &fe) || fe.Layer != "ipv6_fragment" || fe.Kind != Invalid {
		t.Errorf("two fragment headers: %v", err)
	}
	cut := IPv6(b[:IPv6Size+4])
	cut.SetPayloadLength(4)
	if err := c.Parse(cut); !errors.As(err, &fe) || fe.Layer != "ipv6_fragment" || fe.Kind != Truncated {
		t.Errorf("cut fragment header: %v", err)
	}
}

func TestIPv4OptionIterMalformed(t *testing.T) {
	// An iterator over options ParseIPv4 did not check stops at the first
	// malformed option instead of reading past the end.
	h := IPv4(make([]byte, 28))
	h[0] = 0x47
	copy(h[20:], []byte{IPv4OptionNOP, IPv4OptionRecordRoute, 8, 0, 0, 0, 0, 0})
	it := h.OptionIter()
	if it.Next() {
		t.Errorf("Next on an overlong option = true")
	}
	copy(h[20:], []byte{IPv4OptionTimestamp, 4, 0, 0, IPv4OptionEnd, 9, 9, 9})
	it = h.OptionIter()
	if !it.Next() || it.Type() != IPv4OptionTimestamp || it.Next() {
		t.Errorf("timestamp then end: wrong iteration")
	}
}
