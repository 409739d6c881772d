package switched

import (
	"encoding/binary"
	"testing"

	"spacenet/apid/frame"
	"spacenet/apid/sysmsg"
	"spacenet/ipc"
)

func eventFrame(kind sysmsg.EventKind, tenant string, first frame.APID, gen uint32) *frame.Frame {
	p := make([]byte, 8+len(tenant))
	p[0], p[1] = byte(kind), byte(len(tenant))
	binary.BigEndian.PutUint16(p[2:], uint16(first))
	binary.BigEndian.PutUint32(p[4:], gen)
	copy(p[8:], tenant)
	var f frame.Frame
	frame.Encode(&f, frame.Health, sysmsg.APIDEvents, 0x020, p)
	return &f
}

// TestEventGenerations: which events end a call bound to a generation of
// the camera, and which are late and ignored.
func TestEventGenerations(t *testing.T) {
	type ev struct {
		kind sysmsg.EventKind
		gen  uint32
	}
	for _, tc := range []struct {
		name      string
		state     tenantState // what the node knew when the call was sent
		events    []ev
		dead      bool
		stale     uint64
		finalGen  uint32
		finalConn bool
	}{
		{"server goes away", tenantState{1, true}, []ev{{sysmsg.Disconnected, 1}}, true, 0, 1, false},
		{"server replaced", tenantState{1, true}, []ev{{sysmsg.Replaced, 2}}, true, 0, 2, true},
		{"sent while down, server comes back", tenantState{1, false}, []ev{{sysmsg.Connected, 2}}, false, 0, 2, true},
		{"sent while down, comes back twice", tenantState{1, false}, []ev{{sysmsg.Connected, 2}, {sysmsg.Replaced, 3}}, true, 0, 3, true},
		{"late connect of the dead generation", tenantState{1, false}, []ev{{sysmsg.Connected, 1}, {sysmsg.Connected, 2}}, false, 1, 2, true},
		{"late connect of the live generation", tenantState{3, true}, []ev{{sysmsg.Connected, 3}}, false, 1, 3, true},
		{"older generation", tenantState{5, true}, []ev{{sysmsg.Disconnected, 4}, {sysmsg.Replaced, 2}}, false, 2, 5, true},
		{"generations pass 2^16", tenantState{0xFFFF, true}, []ev{{sysmsg.Replaced, 0x10000}}, true, 0, 0x10000, true},
		{"late event after 2^16", tenantState{0x10001, true}, []ev{{sysmsg.Disconnected, 0x0001}}, false, 1, 0x10001, true},
		{"other tenant", tenantState{1, true}, nil, false, 0, 1, true},
	} {
		n, err := NewNode(Config{Socket: "/nonexistent", Tenant: "processor", Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		n.tenants[0] = tc.state
		p := &pending{outcome: make(chan error, 1), tenant: 0, dest: cameraAPID, bound: tc.state.gen}
		if !tc.state.connected {
			p.bound++
		}
		n.calls[1] = p
		for _, e := range tc.events {
			n.handle(eventFrame(e.kind, "camera", 0x010, e.gen))
		}
		n.handle(eventFrame(sysmsg.Disconnected, "spaceos", 0x100, 9)) // never concerns the call
		var got error
		select {
		case got = <-p.outcome:
		default:
		}
		if dead := got == ipc.ServerDeath; dead != tc.dead || (got != nil && !dead) {
			t.Errorf("%s: call ended with %v, want dead=%v", tc.name, got, tc.dead)
		}
		if s := n.Stats().StaleEvents; s != tc.stale {
			t.Errorf("%s: %d stale events, want %d", tc.name, s, tc.stale)
		}
		if st := n.tenants[0]; st.gen != tc.finalGen || st.connected != tc.finalConn {
			t.Errorf("%s: camera state %+v", tc.name, st)
		}
	}
}

// TestAckGenerations: the subscription acknowledgement (told from events by
// its first byte) sets the node's view of every tenant with 32-bit
// generations; an event for that generation then ends a call bound to it.
func TestAckGenerations(t *testing.T) {
	n, err := NewNode(Config{Socket: "/nonexistent", Tenant: "processor", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ack := []byte{
		sysmsg.SubscribeAckKind, 2, 0, 3, 0, 0, 0, 9,
		0x00, 0x10, 1, 0, 0x00, 0x01, 0x23, 0x45, // camera, connected, generation 0x12345
		0x01, 0x00, 0, 0, 0x00, 0x02, 0x00, 0x00, // spaceos, down, generation 0x20000
	}
	var f frame.Frame
	frame.Encode(&f, frame.Health, sysmsg.APIDEvents, 0x020, ack)
	n.handle(&f)
	select {
	case <-n.ready:
	default:
		t.Fatal("ack did not make the node ready")
	}
	if g, c, _ := n.TenantConnected("camera"); g != 0x12345 || !c {
		t.Errorf("camera: generation %#x connected %v", g, c)
	}
	if g, c, _ := n.TenantConnected("spaceos"); g != 0x20000 || c {
		t.Errorf("spaceos: generation %#x connected %v", g, c)
	}
	if s := n.Stats(); s.Events != 0 || s.StaleEvents != 0 {
		t.Errorf("the ack was taken for an event: %+v", s)
	}
	p := &pending{outcome: make(chan error, 1), tenant: 0, dest: cameraAPID, bound: 0x12345}
	n.calls[1] = p
	n.handle(eventFrame(sysmsg.Disconnected, "camera", 0x010, 0x12345))
	select {
	case err := <-p.outcome:
		if err != ipc.ServerDeath {
			t.Errorf("call ended with %v", err)
		}
	default:
		t.Error("the call bound to generation 0x12345 survived its disconnection")
	}
}

// TestNewNodeSocketOrDevice: a Config names exactly one of Socket and
// Device.
func TestNewNodeSocketOrDevice(t *testing.T) {
	for _, tc := range []struct {
		name           string
		socket, device string
		ok             bool
	}{
		{"neither", "", "", false},
		{"both", "/run/spacenet/camera.sock", "/dev/virtio-ports/spacenet", false},
		{"socket", "/run/spacenet/camera.sock", "", true},
		{"device", "", "/dev/virtio-ports/spacenet", true},
	} {
		_, err := NewNode(Config{Socket: tc.socket, Device: tc.device, Tenant: "camera", Logger: quiet()})
		if (err == nil) != tc.ok {
			t.Errorf("%s: NewNode: %v", tc.name, err)
		}
	}
}
