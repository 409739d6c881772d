package lan

import (
	"bufio"
	"fmt"
	"io"
	"sync"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// PcapWriter writes the frames a switch sees to a pcap file (Ethernet link
// type, nanosecond timestamps), readable by Wireshark and tshark. Its
// Monitor method records every frame entering the switch (direction In),
// so each frame appears once, as received, including frames the switch
// then refused; with Both set it also records every frame leaving.
type PcapWriter struct {
	// Both also records frames leaving the switch (direction Out).
	Both bool

	mu     sync.Mutex
	clock  Clock
	bw     *bufio.Writer
	w      *pcapgo.Writer
	frames uint64
	err    error
}

// NewPcapWriter writes the pcap file header to w and returns the writer;
// clock stamps the frames (nil means SystemClock).
func NewPcapWriter(w io.Writer, clock Clock) (*PcapWriter, error) {
	if clock == nil {
		clock = SystemClock
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	pw := pcapgo.NewWriterNanos(bw)
	if err := pw.WriteFileHeader(65535+14, layers.LinkTypeEthernet); err != nil {
		return nil, fmt.Errorf("lan: pcap header: %w", err)
	}
	return &PcapWriter{clock: clock, bw: bw, w: pw}, nil
}

// Monitor records frame (see PcapWriter); use it as Options.Monitor.
func (p *PcapWriter) Monitor(port string, dir Direction, frame []byte) {
	if dir == Out && !p.Both {
		return
	}
	ci := gopacket.CaptureInfo{Timestamp: p.clock.Now(), CaptureLength: len(frame), Length: len(frame)}
	p.mu.Lock()
	if p.err == nil {
		if p.err = p.w.WritePacket(ci, frame); p.err == nil {
			p.frames++
		}
	}
	p.mu.Unlock()
}

// Frames returns how many frames were written.
func (p *PcapWriter) Frames() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frames
}

// Flush writes buffered frames out and returns the first write error.
func (p *PcapWriter) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = p.bw.Flush()
	}
	if p.err != nil {
		return fmt.Errorf("lan: pcap: %w", p.err)
	}
	return nil
}

// Monitors returns a Monitor calling each of ms in turn (nil ones
// skipped).
func Monitors(ms ...Monitor) Monitor {
	var live []Monitor
	for _, m := range ms {
		if m != nil {
			live = append(live, m)
		}
	}
	return func(port string, dir Direction, frame []byte) {
		for _, m := range live {
			m(port, dir, frame)
		}
	}
}
