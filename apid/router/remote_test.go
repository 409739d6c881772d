package router

import (
	"testing"

	"spacenet/apid/frame"
	"spacenet/apid/policy"
)

// remotes: camera may send to remote "payload" (0x020-0x02F) only;
// processor to nobody; "payload" may send to camera only, "ops" (0x500)
// to every tenant (can_send_to left out).
func remotes(t *testing.T) *Table {
	t.Helper()
	p, err := policy.Parse("r.toml", []byte(`
[[tenant]]
name = "camera"
owns = ["0x010-0x01F"]
can_send_to = ["payload"]
downlink = true

[[tenant]]
name = "processor"
owns = ["0x030"]
downlink = true

[[remote]]
name = "payload"
owns = ["0x020-0x02F"]
endpoint = "dtn://p/s"
can_send_to = ["camera"]

[[remote]]
name = "ops"
owns = ["0x500"]
endpoint = "dtn://o/s"
`))
	if err != nil {
		t.Fatal(err)
	}
	tb, err := Compile(p, true)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestRouteRemote(t *testing.T) {
	tb := remotes(t)
	const camera, processor = 0, 1
	remote := func(i int) Decision { return Decision{Action: Remote, Tenant: -1, Remote: i} }
	for _, tt := range []struct {
		name   string
		sender int
		h      frame.Header
		want   Decision
	}{
		{"camera to payload", camera, valid(0x010, 0x025), remote(0)},
		{"camera to ops: not in can_send_to", camera, valid(0x010, 0x500), drop(frame.NotPermitted)},
		{"processor to payload: not in can_send_to", processor, valid(0x030, 0x020), drop(frame.NotPermitted)},
		{"camera to unowned: ground", camera, valid(0x010, 0x600), Decision{Action: Ground, Tenant: -1}},
		{"camera posing as payload", camera, valid(0x020, 0x010), drop(frame.APIDNotAllocated)},
	} {
		if got := tb.Route(tt.sender, tt.h); got != tt.want {
			t.Errorf("%s: Route = %v, want %v", tt.name, got, tt.want)
		}
	}
	for _, tt := range []struct {
		name   string
		remote int
		h      frame.Header
		want   Decision
	}{
		{"payload to camera", 0, valid(0x020, 0x01F), local(camera)},
		{"payload to processor: not in can_send_to", 0, valid(0x02F, 0x030), drop(frame.NotPermitted)},
		{"ops to processor: every tenant", 1, valid(0x500, 0x030), local(processor)},
		{"payload posing as camera", 0, valid(0x010, 0x010), drop(frame.APIDNotAllocated)},
		{"payload posing as ops", 0, valid(0x500, 0x030), drop(frame.APIDNotAllocated)},
		{"payload posing as the switch", 0, valid(0x000, 0x010), drop(frame.APIDNotAllocated)},
		{"payload posing as the ground", 0, valid(0x7F0, 0x010), drop(frame.APIDNotAllocated)},
		{"payload to ops: no transit", 0, valid(0x020, 0x500), drop(frame.NoRoute)},
		{"payload to the ground: no transit", 0, valid(0x020, 0x7F0), drop(frame.NoRoute)},
		{"payload to itself", 0, valid(0x020, 0x021), drop(frame.NoRoute)},
		{"payload to a system APID", 0, valid(0x020, 0x001), Decision{Action: System, Tenant: -1}},
		{"no such remote", 2, valid(0x020, 0x010), drop(frame.APIDNotAllocated)},
		{"negative remote", -1, valid(0x020, 0x010), drop(frame.APIDNotAllocated)},
		{"decode first", 0, frame.Header{Version: 9, APID: 0x020, Dest: 0x010}, drop(frame.UnknownVersion)},
	} {
		if got := tb.RouteFromRemote(tt.remote, tt.h); got != tt.want {
			t.Errorf("%s: RouteFromRemote = %v, want %v", tt.name, got, tt.want)
		}
	}
	if r, ok := tb.RemoteOwner(0x500); !ok || r != 1 {
		t.Errorf("RemoteOwner(0x500) = %d, %v", r, ok)
	}
	if _, ok := tb.RemoteOwner(0x010); ok {
		t.Error("RemoteOwner(0x010): a tenant's APID")
	}
	if _, ok := tb.Owner(0x020); ok {
		t.Error("Owner(0x020): a remote's APID is no tenant's")
	}
	if s := remote(3).String(); s != "Remote(3)" {
		t.Errorf("String: %q", s)
	}
}
