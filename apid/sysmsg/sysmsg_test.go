package sysmsg

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

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

func FuzzParseHealth(f *testing.F) {
	f.Add([]byte{HealthFormat, 1, 0, 0, 0, 0, 0, 5, 0, 0x10, 0, 1, 1, 0, 0, 3})
	f.Add([]byte{HealthFormat, 30})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		h, err := ParseHealth(p)
		if err != nil {
			return
		}
		if len(h.Tenants) != int(p[1]) {
			t.Fatalf("%d tenants, header says %d", len(h.Tenants), p[1])
		}
	})
}

func FuzzParseEventNotice(f *testing.F) {
	f.Add([]byte{1, 6, 0, 0x10, 0, 0, 0, 1, 'c', 'a', 'm', 'e', 'r', 'a'})
	f.Add([]byte{3, 40, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{9})
	f.Fuzz(func(t *testing.T, p []byte) {
		e, err := ParseEventNotice(p)
		if err != nil {
			return
		}
		if len(e.Tenant) != int(p[1]) || e.Kind < Connected || e.Kind > Disconnected {
			t.Fatalf("%+v from %x", e, p)
		}
	})
}

// TestPutParse: what the Put functions write, the Parse functions read back
// field for field; the layout's bytes are exact.
func TestPutParse(t *testing.T) {
	p := make([]byte, 248)
	n := PutHealthHeader(p, 2, 3*time.Second+time.Millisecond)
	PutHealthTenant(p, 0, HealthTenant{FirstAPID: 0x010, Generation: 7, Connected: true, QueueLen: 9})
	PutHealthTenant(p, 1, HealthTenant{FirstAPID: 0x020})
	want := []byte{HealthFormat, 2, 0, 0, 0, 0, 0, 3, 0, 0x10, 0, 7, 1, 0, 0, 9, 0, 0x20, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(p[:n], want) {
		t.Fatalf("health %x, want %x", p[:n], want)
	}
	h, err := ParseHealth(p[:n])
	if err != nil || h.Uptime != 3*time.Second || len(h.Tenants) != 2 || h.Tenants[0] != (HealthTenant{0x010, 7, true, 9}) || h.Tenants[1] != (HealthTenant{FirstAPID: 0x020}) {
		t.Fatalf("ParseHealth = %+v, %v", h, err)
	}

	n = PutAckHeader(p, 1, 3, 5*time.Second)
	PutAckTenant(p, 0, AckTenant{FirstAPID: 0x010, Generation: 0x12345, Connected: true})
	want = []byte{SubscribeAckKind, 1, 0, 3, 0, 0, 0, 5, 0, 0x10, 1, 0, 0, 1, 0x23, 0x45}
	if !bytes.Equal(p[:n], want) {
		t.Fatalf("ack %x, want %x", p[:n], want)
	}
	a, err := ParseSubscribeAck(p[:n])
	if err != nil || a.Total != 3 || a.Uptime != 5*time.Second || len(a.Tenants) != 1 || a.Tenants[0] != (AckTenant{0x010, 0x12345, true}) {
		t.Fatalf("ParseSubscribeAck = %+v, %v", a, err)
	}

	long := strings.Repeat("n", MaxEventName+5)
	n = PutEventNotice(p, EventNotice{Kind: Replaced, Tenant: long, FirstAPID: 0x2FF, Generation: 4})
	if n != 8+MaxEventName || !bytes.Equal(p[:8], []byte{byte(Replaced), MaxEventName, 0x02, 0xFF, 0, 0, 0, 4}) {
		t.Fatalf("event %x (%d bytes)", p[:n], n)
	}
	e, err := ParseEventNotice(p[:n])
	if err != nil || e != (EventNotice{Kind: Replaced, Tenant: long[:MaxEventName], FirstAPID: 0x2FF, Generation: 4}) {
		t.Fatalf("ParseEventNotice = %+v, %v", e, err)
	}
}
