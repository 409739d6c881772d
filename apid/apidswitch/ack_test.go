package apidswitch

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"spacenet/apid/frame"
)

// TestSubscribeAck: the acknowledgement of an event subscription starts with
// SubscribeAckKind (never an EventKind) and carries 32-bit generations;
// events that follow start with their EventKind.
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
	sub := mkFrame(t, frame.Health, 0x100, APIDEvents, "")
	spos.WriteFrame(&sub)
	ack := readFrame(t, spos)
	if ack.Type() != frame.Health || ack.APID() != APIDEvents || ack.Dest() != 0x100 {
		t.Fatalf("ack header %+v", ack.Header())
	}
	want := []byte{
		SubscribeAckKind, 3, 0, 3, 0, 0, 0, 0, // kind, 3 entries of 3 tenants, uptime (below)
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
	if k := PayloadKind(ack.Payload()); k != SubscribeAckKind {
		t.Errorf("PayloadKind = %#x", k)
	}
	a, err := ParseSubscribeAck(ack.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if a.Total != 3 || len(a.Tenants) != 3 || a.Tenants[0] != (AckTenant{FirstAPID: 0x010, Generation: 0x12345, Connected: true}) {
		t.Errorf("ack %+v", a)
	}
	if _, err := ParseEventNotice(ack.Payload()); err == nil {
		t.Error("the ack parsed as an event")
	}

	cam.Close()
	h.waitEvent("camera", Disconnected)
	ev := readFrame(t, spos)
	if k := PayloadKind(ev.Payload()); k != byte(Disconnected) {
		t.Fatalf("event kind %#x", k)
	}
	if _, err := ParseSubscribeAck(ev.Payload()); err == nil {
		t.Error("an event parsed as the ack")
	}
	e, err := ParseEventNotice(ev.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if e != (EventNotice{Kind: Disconnected, Tenant: "camera", FirstAPID: 0x010, Generation: 0x12345}) {
		t.Errorf("event %+v", e)
	}
}

func TestParseSubscribeAckErrors(t *testing.T) {
	ok := make([]byte, 16)
	ok[0], ok[1] = SubscribeAckKind, 1
	binary.BigEndian.PutUint16(ok[2:], 1)
	for _, tc := range []struct {
		name string
		p    []byte
	}{
		{"short", ok[:7]},
		{"event kind", append([]byte{byte(Connected)}, ok[1:]...)},
		{"health format", append([]byte{HealthFormat}, ok[1:]...)},
		{"entries past the payload", ok[:15]},
		{"more entries than tenants", func() []byte { p := bytes.Clone(ok); p[3] = 0; return p }()},
	} {
		if a, err := ParseSubscribeAck(tc.p); err == nil {
			t.Errorf("%s: parsed %+v", tc.name, a)
		}
	}
	if _, err := ParseSubscribeAck(ok); err != nil {
		t.Errorf("valid ack: %v", err)
	}
}

func FuzzParseSubscribeAck(f *testing.F) {
	f.Add([]byte{SubscribeAckKind, 1, 0, 1, 0, 0, 0, 5, 0, 0x10, 1, 0, 0, 1, 0, 3})
	f.Add([]byte{SubscribeAckKind, 30, 0, 40})
	f.Add([]byte{byte(Connected), 6, 0, 0x10, 0, 0, 0, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		a, err := ParseSubscribeAck(p)
		if err != nil {
			return
		}
		if p[0] != SubscribeAckKind || len(a.Tenants) != int(p[1]) || len(a.Tenants) > a.Total || len(a.Tenants) > MaxAckTenants {
			t.Fatalf("%+v from %x", a, p)
		}
		if _, err := ParseEventNotice(p); err == nil {
			t.Fatalf("%x parses as both ack and event", p)
		}
	})
}
