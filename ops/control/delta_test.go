package control_test

import (
	"fmt"
	"testing"
	"time"

	"spacenet/ops/control"
)

func TestRateOf(t *testing.T) {
	tests := []struct {
		name        string
		now, before uint64
		dt          time.Duration
		have        bool
		want        string
	}{
		{"per second", 300, 100, 2 * time.Second, true, "100"},
		{"rounded", 10, 0, 3 * time.Second, true, "3"},
		{"unchanged", 5, 5, time.Second, true, "0"},
		{"sub-second interval", 5, 0, 100 * time.Millisecond, true, "50"},
		{"no earlier snapshot", 300, 100, 2 * time.Second, false, "-"},
		{"no time passed", 300, 100, 0, true, "-"},
		{"time went back", 300, 100, -time.Second, true, "-"},
		{"counter went back (restart)", 100, 300, time.Second, true, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := control.RateOf(tt.now, tt.before, tt.dt, tt.have)
			if got := r.String(); got != tt.want {
				t.Errorf("RateOf(%d, %d, %s, %t) = %q (%+v); want %q", tt.now, tt.before, tt.dt, tt.have, got, r, tt.want)
			}
			if r.Known != (tt.want != "-") {
				t.Errorf("Known %t for %q", r.Known, tt.want)
			}
		})
	}
}

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// snapshot is a switch of the v0 shape (camera may send to processor and
// downlink; the ground to camera) at at with the given edges' frames and
// the camera's counters.
func snapshot(at time.Time, camReceived, camDelivered uint64, edges ...control.Edge) *control.APID {
	return &control.APID{
		Time: at,
		Tenants: []control.Tenant{
			{Name: "camera", APIDs: []string{"0x010-0x01F"}, CanSendTo: []string{"processor"}, MayDownlink: true,
				Received: camReceived, Delivered: camDelivered},
			{Name: "processor", APIDs: []string{"0x020-0x02F"}},
		},
		Ground: control.Tenant{Name: "ground", APIDs: []string{"0x7F0"}, CanSendTo: []string{"camera"}, Received: camReceived / 2},
		Edges:  edges,
	}
}

func TestByName(t *testing.T) {
	s := snapshot(t0, 7, 3)
	s.Tenants = append(s.Tenants, control.Tenant{Name: "camera", Removed: true, Received: 99})
	m := s.ByName()
	tests := []struct {
		name     string
		want     *control.Tenant
		received uint64
	}{
		{"camera", &s.Tenants[0], 7}, // the first row: the policy's tenant, not the removed one after it
		{"processor", &s.Tenants[1], 0},
		{"ground", &s.Ground, 3},
	}
	if len(m) != len(tests) {
		t.Errorf("%d names; want %d: %v", len(m), len(tests), m)
	}
	for _, tt := range tests {
		if got := m[tt.name]; got != tt.want || got.Received != tt.received {
			t.Errorf("%s: %p received %d; want %p received %d", tt.name, got, got.Received, tt.want, tt.received)
		}
	}
}

func TestTenantRates(t *testing.T) {
	before := snapshot(t0, 100, 40)
	now := snapshot(t0.Add(2*time.Second), 300, 60)
	now.Tenants = append(now.Tenants, control.Tenant{Name: "new", Received: 8})
	tests := []struct {
		name    string
		before  *control.APID
		tenant  *control.Tenant
		in, out string
	}{
		{"camera", before, &now.Tenants[0], "100", "10"},
		{"processor, idle", before, &now.Tenants[1], "0", "0"},
		{"ground", before, &now.Ground, "50", "0"},
		{"not in the earlier snapshot", before, &now.Tenants[2], "-", "-"},
		{"no earlier snapshot", nil, &now.Tenants[0], "-", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, out := now.Since(tt.before).TenantRates(tt.tenant)
			if in.String() != tt.in || out.String() != tt.out {
				t.Errorf("in %s out %s; want %s, %s", in, out, tt.in, tt.out)
			}
		})
	}
}

func TestDeltaEdges(t *testing.T) {
	e := func(from, to string, n uint64) control.Edge { return control.Edge{From: from, To: to, Frames: n} }
	at := t0.Add(2 * time.Second)
	badPolicy := snapshot(at, 0, 0)
	badPolicy.Tenants[1].APIDs = []string{"0xZZZ"}
	tests := []struct {
		name        string
		now, before *control.APID
		want        string // the rows, fmt.Sprint (a rate as its String)
		wantErr     bool
	}{
		{
			name:   "policy edges in policy order, then a pair outside the policy",
			now:    snapshot(at, 0, 0, e("camera", "processor", 300), e("camera", "ground", 16), e("ground", "camera", 4), e("processor", "old", 5)),
			before: snapshot(t0, 0, 0, e("camera", "processor", 100), e("camera", "ground", 10), e("processor", "old", 5)),
			want:   "[{camera processor 300 100} {camera ground 16 3} {ground camera 4 2} {processor old 5 0}]",
		},
		{
			name: "no earlier snapshot: totals, no rates; edges that carried nothing at 0",
			now:  snapshot(at, 0, 0, e("camera", "processor", 300)),
			want: "[{camera processor 300 -} {camera ground 0 -} {ground camera 0 -}]",
		},
		{
			name:   "a pair twice (a tenant removed and added again): its first edge, listed once",
			now:    snapshot(at, 0, 0, e("processor", "old", 9), e("processor", "old", 1)),
			before: snapshot(t0, 0, 0, e("processor", "old", 5), e("processor", "old", 0)),
			want:   "[{camera processor 0 0} {camera ground 0 0} {ground camera 0 0} {processor old 9 2}]",
		},
		{
			name:   "a counter that went back (a restart): no rate",
			now:    snapshot(at, 0, 0, e("camera", "processor", 3)),
			before: snapshot(t0, 0, 0, e("camera", "processor", 100)),
			want:   "[{camera processor 3 -} {camera ground 0 0} {ground camera 0 0}]",
		},
		{name: "a policy that cannot be rebuilt", now: badPolicy, wantErr: true, want: "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := tt.now.Since(tt.before).Edges()
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v; want one: %t", err, tt.wantErr)
			}
			if got := fmt.Sprint(rows); got != tt.want {
				t.Errorf("edges\n got %s\nwant %s", got, tt.want)
			}
			for _, r := range rows {
				if n := tt.now.EdgeFrames(r.From, r.To); r.Frames != n {
					t.Errorf("%s -> %s: %d frames; EdgeFrames says %d", r.From, r.To, r.Frames, n)
				}
			}
		})
	}
}
