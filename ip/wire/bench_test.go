package wire

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The decode benchmarks compare Decode with gopacket's DecodingLayerParser
// doing the same work: Ethernet, IPv4 or IPv6, then TCP (options decoded)
// or UDP. BenchmarkDecodeIPv4TCP and BenchmarkDecodeIPv6UDP give each its
// own ns/op and allocations; BenchmarkDecodeInterleaved gives the ratio,
// measured with both decoders alternating so that machine load hits both
// alike.

func benchWire(b *testing.B, frame []byte, wantPayload int) {
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if err := Decode(frame, &p); err != nil {
			b.Fatal(err)
		}
		if len(p.Payload) != wantPayload {
			b.Fatalf("payload %d", len(p.Payload))
		}
	}
}

func benchGopacket(b *testing.B, frame []byte, wantPayload int) {
	var (
		eth     layers.Ethernet
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		udp     layers.UDP
		payload gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &ip6, &tcp, &udp, &payload)
	// Stop quietly after TCP or UDP when the port names an application
	// layer (443: TLS) that has no decoder here.
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 8)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if err := parser.DecodeLayers(frame, &decoded); err != nil {
			b.Fatal(err)
		}
		var got int
		switch decoded[len(decoded)-1] {
		case layers.LayerTypeTCP:
			got = len(tcp.Payload)
		case layers.LayerTypeUDP:
			got = len(udp.Payload)
		default:
			got = len(payload)
		}
		if got != wantPayload {
			b.Fatalf("payload %d after %v", got, decoded)
		}
	}
}

func benchPair(b *testing.B, name string, payload int) {
	frame := frameOf(b, name)
	b.Run("gopacket", func(b *testing.B) { benchGopacket(b, frame, payload) })
	b.Run("wire", func(b *testing.B) { benchWire(b, frame, payload) })
}

// BenchmarkDecodeIPv4TCP decodes Ethernet/IPv4/TCP (timestamps, two SACK
// blocks, 16 bytes of data).
func BenchmarkDecodeIPv4TCP(b *testing.B) { benchPair(b, "IPv4TCPData", 16) }

// BenchmarkDecodeIPv6UDP decodes Ethernet/IPv6/UDP (10 bytes of data).
func BenchmarkDecodeIPv6UDP(b *testing.B) { benchPair(b, "IPv6UDP", 10) }

// BenchmarkDecodeInterleaved measures the same two decoders alternately,
// 256 packets at a time, so that both see the same machine load (the
// machine is shared): it reports each one's ns per packet, summed over
// all chunks and in the fastest chunk, and the ratios.
func BenchmarkDecodeInterleaved(b *testing.B) {
	for _, c := range []struct {
		name    string
		frame   string
		payload int
	}{{"IPv4TCP", "IPv4TCPData", 16}, {"IPv6UDP", "IPv6UDP", 10}} {
		b.Run(c.name, func(b *testing.B) {
			frame := frameOf(b, c.frame)
			var p Packet
			var (
				eth     layers.Ethernet
				ip4     layers.IPv4
				ip6     layers.IPv6
				tcp     layers.TCP
				udp     layers.UDP
				payload gopacket.Payload
			)
			parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &ip6, &tcp, &udp, &payload)
			parser.IgnoreUnsupported = true
			decoded := make([]gopacket.LayerType, 0, 8)
			const chunk = 256
			var wSum, gSum time.Duration
			wMin, gMin := time.Hour, time.Hour
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				for range chunk {
					if err := Decode(frame, &p); err != nil || len(p.Payload) != c.payload {
						b.Fatal(err)
					}
				}
				t1 := time.Now()
				for range chunk {
					if err := parser.DecodeLayers(frame, &decoded); err != nil || len(decoded) < 3 {
						b.Fatal(err, decoded)
					}
				}
				t2 := time.Now()
				w, g := t1.Sub(t0), t2.Sub(t1)
				wSum, gSum = wSum+w, gSum+g
				wMin, gMin = min(wMin, w), min(gMin, g)
			}
			n := float64(b.N * chunk)
			b.ReportMetric(float64(wSum.Nanoseconds())/n, "wire-ns/pkt")
			b.ReportMetric(float64(gSum.Nanoseconds())/n, "gopacket-ns/pkt")
			b.ReportMetric(float64(gSum)/float64(wSum), "x-faster")
			b.ReportMetric(float64(gMin)/float64(wMin), "x-faster-best")
			b.ReportMetric(float64(wMin.Nanoseconds())/chunk, "wire-best-ns/pkt")
			b.ReportMetric(float64(gMin.Nanoseconds())/chunk, "gopacket-best-ns/pkt")
		})
	}
}
