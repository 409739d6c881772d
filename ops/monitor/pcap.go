package monitor

import (
	"fmt"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
)

// LinkType is the link type of the frames in a capture: USER0 (DLT 147),
// which contrib/wireshark/spacenet.lua dissects as spacenet frames.
const LinkType = layers.LinkType(147)

// Pcapng writes Frame records as a pcapng capture: one interface per peer
// (named after the tenant, or "ground"), added as peers first appear, and
// each packet's direction in its flags (inbound: written by the peer to
// the switch; outbound: written by the switch to it). Each packet is one
// whole 256-byte frame.
type Pcapng struct {
	w     io.Writer
	ng    *pcapgo.NgWriter
	intfs map[string]int
}

// NewPcapng writes to w; nothing is written before the first record.
func NewPcapng(w io.Writer) *Pcapng { return &Pcapng{w: w, intfs: make(map[string]int)} }

func peerInterface(name string) pcapgo.NgInterface {
	return pcapgo.NgInterface{
		Name:                name,
		Description:         "spacenet APID switch peer " + name,
		LinkType:            LinkType,
		SnapLength:          frame.Size,
		TimestampResolution: 9,
	}
}

// Write adds r to the capture.
func (p *Pcapng) Write(r *apidswitch.TapRecord) error {
	id, ok := p.intfs[r.Tenant]
	var err error
	switch {
	case ok:
	case p.ng == nil:
		p.ng, err = pcapgo.NewNgWriterInterface(p.w, peerInterface(r.Tenant), pcapgo.NgWriterOptions{
			SectionInfo: pcapgo.NgSectionInfo{Application: "spacenet monitor"},
		})
		id = 0
	default:
		id, err = p.ng.AddInterface(peerInterface(r.Tenant))
	}
	if err != nil {
		return fmt.Errorf("pcapng: %w", err)
	}
	p.intfs[r.Tenant] = id
	dir := pcapgo.NgEpbFlagDirectionInbound
	if r.Out {
		dir = pcapgo.NgEpbFlagDirectionOutbound
	}
	ci := gopacket.CaptureInfo{Timestamp: r.Time, CaptureLength: frame.Size, Length: frame.Size, InterfaceIndex: id}
	if err := p.ng.WritePacketWithOptions(ci, r.Frame[:], pcapgo.NgPacketOptions{Flags: &pcapgo.NgEpbFlags{Direction: dir}}); err != nil {
		return fmt.Errorf("pcapng: %w", err)
	}
	return nil
}

// Flush writes out what is buffered.
func (p *Pcapng) Flush() error {
	if p.ng == nil {
		return nil
	}
	return p.ng.Flush()
}
