package wire

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The decode benchmarks compare Decode with gopacket's DecodingLayerParser
// doing the same work: Ethernet, IPv4 or IPv6, then TCP (options decoded)
// or UDP. Each gopacket benchmark's ns/op is reported by the wire one as
// "x-faster" so that both come from the same run.

func benchWire(b *testing.B, frame []byte, wantPayload int) float64 {
	var p Packet
	var o TCPOptions
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if err := Decode(frame, &p); err != nil {
			b.Fatal(err)
		}
		if p.TCP != nil {
			if err := p.TCP.ParseOptions(&o); err != nil {
				b.Fatal(err)
			}
		}
		if len(p.Payload) != wantPayload {
			b.Fatalf("payload %d", len(p.Payload))
		}
	}
	return float64(b.Elapsed().Nanoseconds()) / float64(b.N)
}

func benchGopacket(b *testing.B, frame []byte, wantPayload int) float64 {
	var (
		eth     layers.Ethernet
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		udp     layers.UDP
		payload gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &ip6, &tcp, &udp, &payload)
	decoded := make([]gopacket.LayerType, 0, 8)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if err := parser.DecodeLayers(frame, &decoded); err != nil {
			b.Fatal(err)
		}
		if len(payload) != wantPayload {
			b.Fatalf("payload %d", len(payload))
		}
	}
	return float64(b.Elapsed().Nanoseconds()) / float64(b.N)
}

func benchPair(b *testing.B, name string, payload int) {
	frame := frameOf(b, name)
	var gp float64
	b.Run("gopacket", func(b *testing.B) { gp = benchGopacket(b, frame, payload) })
	b.Run("wire", func(b *testing.B) {
		w := benchWire(b, frame, payload)
		if gp > 0 && w > 0 {
			b.ReportMetric(gp/w, "x-faster")
		}
	})
}

// BenchmarkDecodeIPv4TCP decodes Ethernet/IPv4/TCP (timestamps, two SACK
// blocks, 16 bytes of data).
func BenchmarkDecodeIPv4TCP(b *testing.B) { benchPair(b, "IPv4TCPData", 16) }

// BenchmarkDecodeIPv6UDP decodes Ethernet/IPv6/UDP (10 bytes of data).
func BenchmarkDecodeIPv6UDP(b *testing.B) { benchPair(b, "IPv6UDP", 10) }
