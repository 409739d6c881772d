// Package controltest drives a known traffic pattern through a running
// APID switch (the v0 policy), so that the tests of its views (the control
// socket, spacenet status, the Prometheus endpoint) can check exact counts.
// It is a test harness, not part of a switch.
package controltest

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/guest"
	"spacenet/apid/sysmsg"
)

// The pattern, as guests of the v0 policy: camera (0x010) sends Sent data
// frames to processor (0x020), who reads them all; camera sends Spoofed
// frames from processor's APID 0x020 (refused Apid_not_allocated), and
// reads their ERRORs; then each asks HEALTH twice (2 frames each to the
// system handler, 2 replies each), which settles the counters: the second
// reply is written after everything queued before it was written and
// counted.
const (
	Sent    = 7
	Spoofed = 3
	Healths = 2
)

// Guests are the pattern's two guests; Close closes them.
type Guests struct{ Camera, Processor *guest.Conn }

// Close closes both connections.
func (g *Guests) Close() {
	g.Camera.Close()
	g.Processor.Close()
}

// Run connects camera and processor to the switch whose sockets are in dir
// and plays the pattern. The guests stay connected (so the counters show
// them connected) until the caller closes them.
func Run(dir string) (*Guests, error) {
	cam, err := guest.Dial(filepath.Join(dir, "camera.sock"))
	if err != nil {
		return nil, err
	}
	proc, err := guest.Dial(filepath.Join(dir, "processor.sock"))
	if err != nil {
		cam.Close()
		return nil, err
	}
	g := &Guests{Camera: cam, Processor: proc}
	if err := g.play(); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

func (g *Guests) play() error {
	deadline := time.Now().Add(10 * time.Second)
	g.Camera.SetDeadline(deadline)
	g.Processor.SetDeadline(deadline)
	fs := make([]frame.Frame, Sent+Spoofed)
	for i := range fs {
		src := frame.APID(0x010)
		if i >= Sent {
			src = 0x020
		}
		if err := frame.Encode(&fs[i], frame.TM, src, 0x020, []byte{byte(i)}); err != nil {
			return err
		}
	}
	if err := g.Camera.WriteFrames(fs); err != nil {
		return err
	}
	var f frame.Frame
	for i := range Sent {
		if err := g.Processor.ReadFrame(&f); err != nil {
			return fmt.Errorf("processor, frame %d: %w", i, err)
		}
		if f.Type() != frame.TM || f.Payload()[0] != byte(i) {
			return fmt.Errorf("processor, frame %d: got type %v payload %x", i, f.Type(), f.Payload()[:1])
		}
	}
	for i := range Spoofed {
		if err := g.Camera.ReadFrame(&f); err != nil {
			return fmt.Errorf("camera, ERROR %d: %w", i, err)
		}
		if f.Type() != frame.Error {
			return fmt.Errorf("camera, ERROR %d: got type %v", i, f.Type())
		}
	}
	for _, c := range []struct {
		g    *guest.Conn
		apid frame.APID
	}{{g.Camera, 0x010}, {g.Processor, 0x020}} {
		for range Healths {
			if err := health(c.g, c.apid); err != nil {
				return err
			}
		}
	}
	return nil
}

func health(g *guest.Conn, apid frame.APID) error {
	var req, got frame.Frame
	frame.Encode(&req, frame.Health, apid, sysmsg.APIDHealth, nil)
	if err := g.WriteFrame(&req); err != nil {
		return err
	}
	if err := g.ReadFrame(&got); err != nil {
		return fmt.Errorf("HEALTH from %v: %w", apid, err)
	}
	if got.Type() != frame.Health {
		return errors.New("HEALTH: the answer is not a HEALTH frame")
	}
	return nil
}
