package dtn_test

import (
	"context"
	"testing"
	"time"

	"spacenet/apid/dtn"
	"spacenet/apid/frame"
	"spacenet/internal/dtntest"
)

// TestPairGround: the ground link as bundles. A's link is also A's ground
// link, to a ground station at dtn://b/ground (an application on B's dtnd,
// written here with the package's own agent client): camera's telemetry
// to 0x000 reaches it as a bundle, counted DeliveredGround and reported
// delivered; a command the station sends back (a batch with a TC frame
// from the ground's APID 0x7F0) reaches camera, checked as the ground's.
func TestPairGround(t *testing.T) {
	p := newPairOpts(t, "1m", pairOpts{ground: "dtn://b/ground"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	station, err := dtntest.DialIn(p.b.ns, dtn.Dial)(ctx, p.b.node.Agent, "dtn://b/ground")
	if err != nil {
		t.Fatal(err)
	}
	defer station.Close()
	cam := dial(t, &p.a, "camera")

	var tm frame.Frame
	frame.Encode(&tm, frame.TM, 0x012, frame.APIDSwitch, []byte("telemetry"))
	if err := cam.WriteFrame(&tm); err != nil {
		t.Fatal(err)
	}
	got := make(chan []frame.Frame, 1)
	go func() {
		defer close(got)
		for {
			m, err := station.Receive()
			if err != nil {
				return
			}
			if m.Bundle.Source != "dtn://a/spacenet" {
				continue
			}
			var fs []frame.Frame
			if _, err := dtn.DecodeBatch(m.Bundle.Payload, func(f *frame.Frame) { fs = append(fs, *f) }); err == nil {
				got <- fs
				return
			}
		}
	}()
	select {
	case fs := <-got:
		if len(fs) != 1 || fs[0] != tm {
			t.Fatalf("the station got %d frames, not camera's telemetry", len(fs))
		}
	case <-ctx.Done():
		t.Fatalf("no bundle at the ground station; link A %+v", p.a.link.Stats())
	}
	waitLink(t, p.a.link, 20*time.Second, "delivery report from the ground's node", func(s dtn.Stats) bool { return s.FramesDelivered == 1 })
	if c := p.a.sw.Counters()[0]; c.DeliveredGround != 1 || !c.Balanced() {
		t.Errorf("camera: %+v", c)
	}

	// A command up: TC from 0x7F0 to camera's 0x015.
	var tc frame.Frame
	frame.Encode(&tc, frame.TC, 0x7F0, 0x015, []byte("cmd"))
	batch := dtn.AppendFrame(dtn.AppendBatch(nil, 7, 0), &tc)
	b := dtn.Bundle{Destination: "dtn://a/spacenet", Source: "dtn://b/ground", ReportTo: "dtn://b/ground",
		Created: dtn.DTNTime(time.Now()), Lifetime: 60000, Payload: batch}
	if err := station.Send(&b); err != nil {
		t.Fatal(err)
	}
	cam.SetReadDeadline(time.Now().Add(20 * time.Second))
	var in frame.Frame
	if err := cam.ReadFrame(&in); err != nil || in != tc {
		t.Fatalf("camera: %v, got type %v from %v", err, in.Type(), in.APID())
	}
	if g := p.a.sw.Ground(); g.Received != 1 || g.Delivered+g.Queued != 1 {
		t.Errorf("ground counters: %+v", g)
	}
}
