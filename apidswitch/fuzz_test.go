package apidswitch

import (
	"testing"

	"spacenet/frame"
)

// FuzzProcess feeds arbitrary bytes to camera's reader as one stream (whole
// frames routed, a trailing partial frame refused): it must never panic and
// the counters must balance, with every refusal answered or counted lost.
func FuzzProcess(f *testing.F) {
	var ok frame.Frame
	frame.Encode(&ok, frame.TM, 0x010, 0x020, []byte("hello"))
	f.Add(ok[:])
	f.Add(append(append([]byte{}, ok[:]...), ok[:10]...))
	bad := ok
	bad.SetVersion(7)
	f.Add(bad[:])
	health := ok
	health.SetType(frame.Health)
	health.SetDest(APIDHealth)
	f.Add(health[:])
	f.Add([]byte{1, 0, 0, 0x10})
	f.Fuzz(func(t *testing.T, data []byte) {
		fx := newRouteFixture(t)
		whole := len(data) - len(data)%frame.Size
		buf := append([]byte(nil), data...)
		if whole > 0 {
			fx.r.process(buf[:whole])
		}
		if whole < len(data) {
			fx.r.partial(buf[whole:], true)
		}
		var c Counters
		fx.cam.counters(&c)
		n := uint64((len(data) + frame.Size - 1) / frame.Size)
		if c.Received != n || !c.Balanced() {
			t.Fatalf("received %d of %d frames, counters %+v", c.Received, n, c)
		}
		var refused uint64
		for _, d := range c.Dropped {
			refused += d
		}
		// ERRORs and HEALTH replies go to camera's own queue.
		if c.NoticesQueued+c.NoticesLost < refused {
			t.Fatalf("%d refused, %d notices", refused, c.NoticesQueued+c.NoticesLost)
		}
		fx.drain(fx.proc)
		fx.drain(fx.cam)
		fx.cam.counters(&c)
		if c.Queued != 0 || !c.Balanced() {
			t.Fatalf("after drain %+v", c)
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
