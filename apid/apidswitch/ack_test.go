package apidswitch

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/sysmsg"
)

// TestSubscribeAck: the acknowledgement of an event subscription starts with
// sysmsg.SubscribeAckKind (never an sysmsg.EventKind) and carries 32-bit generations;
// events that follow start with their sysmsg.EventKind.
func TestSubscribeAck(t *testing.T) {
	h := startSwitch(t, Config{})
	started := time.Now()
	cam := h.dial("camera")
	// A generation past 2^16, as after many restarts.
	st := h.sw.state.Load()
	st.tenants[0].mu.Lock()
	st.tenants[0].gen = 0x12345
	st.tenants[0].mu.Unlock()

	spos := h.dial("spaceos")
	sub := mkFrame(t, frame.Health, 0x100, sysmsg.APIDEvents, "")
	spos.WriteFrame(&sub)
	ack := readFrame(t, spos)
	if ack.Type() != frame.Health || ack.APID() != sysmsg.APIDEvents || ack.Dest() != 0x100 {
		t.Fatalf("ack header %+v", ack.Header())
	}
	want := []byte{
		sysmsg.SubscribeAckKind, 3, 0, 3, 0, 0, 0, 0, // kind, 3 entries of 3 tenants, uptime (below)
		0x00, 0x10, 1, 0, 0x00, 0x01, 0x23, 0x45, // camera: connected, generation 0x12345
		0x00, 0x20, 0, 0, 0, 0, 0, 0, // processor: never connected
		0x01, 0x00, 1, 0, 0, 0, 0, 1, // spaceos: connected, generation 1
	}
	// The uptime in whole seconds: at most the time since the switch
	// started (a loaded machine may take over a second to get here).
	up := binary.BigEndian.Uint32(ack.Payload()[4:])
	if max := time.Since(started) + time.Second; time.Duration(up)*time.Second > max {
		t.Errorf("uptime %d s, more than %v since the switch started", up, max)
	}
	binary.BigEndian.PutUint32(want[4:], up)
	if got := ack.Payload(); !bytes.Equal(got, want) {
		t.Fatalf("ack payload\n got % x\nwant % x", got, want)
	}
	if k := sysmsg.PayloadKind(ack.Payload()); k != sysmsg.SubscribeAckKind {
		t.Errorf("PayloadKind = %#x", k)
	}
	a, err := sysmsg.ParseSubscribeAck(ack.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if a.Total != 3 || len(a.Tenants) != 3 || a.Tenants[0] != (sysmsg.AckTenant{FirstAPID: 0x010, Generation: 0x12345, Connected: true}) {
		t.Errorf("ack %+v", a)
	}
	if _, err := sysmsg.ParseEventNotice(ack.Payload()); err == nil {
		t.Error("the ack parsed as an event")
	}

	cam.Close()
	h.waitEvent("camera", sysmsg.Disconnected)
	ev := readFrame(t, spos)
	if k := sysmsg.PayloadKind(ev.Payload()); k != byte(sysmsg.Disconnected) {
		t.Fatalf("event kind %#x", k)
	}
	if _, err := sysmsg.ParseSubscribeAck(ev.Payload()); err == nil {
		t.Error("an event parsed as the ack")
	}
	e, err := sysmsg.ParseEventNotice(ev.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if e != (sysmsg.EventNotice{Kind: sysmsg.Disconnected, Tenant: "camera", FirstAPID: 0x010, Generation: 0x12345}) {
		t.Errorf("event %+v", e)
	}
}
