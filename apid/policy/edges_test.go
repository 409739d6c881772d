package policy_test

import (
	"fmt"
	"slices"
	"testing"

	"spacenet/apid/policy"
)

// edgesPolicy has every kind of edge: whole tenants, part of one (a range
// entry), one that may not send to the ground, and a ground restricted to
// one tenant.
const edgesPolicy = `
[[tenant]]
name = "camera"
owns = ["0x010-0x01F"]
can_send_to = ["processor", "0x100-0x10F"]
downlink = true

[[tenant]]
name = "processor"
owns = ["0x020-0x02F"]
can_send_to = ["camera"]

[[tenant]]
name = "spaceos"
owns = ["0x100-0x2FF"]
can_send_to = ["camera", "processor"]
downlink = true

[ground]
owns = ["0x7F0"]
can_send_to = ["spaceos"]
`

// TestEdges: a policy's edges, each tenant's in policy order, then the
// ground's, with the ranges a partial can_send_to reaches.
func TestEdges(t *testing.T) {
	var got []string
	for _, e := range mustParse(t, edgesPolicy).Edges() {
		got = append(got, fmt.Sprintf("%s->%s %s %v", e.From, e.To, e.Kind, e.Ranges))
	}
	want := []string{
		"camera->processor route []",
		"camera->spaceos route [0x100-0x10F]",
		"camera->ground downlink []",
		"processor->camera route []",
		"spaceos->camera route []",
		"spaceos->processor route []",
		"spaceos->ground downlink []",
		"ground->spaceos uplink []",
	}
	if !slices.Equal(got, want) {
		t.Errorf("edges:\n got %q\nwant %q", got, want)
	}
}

func TestEdgeKey(t *testing.T) {
	if got := policy.EdgeKey("camera", policy.GroundName); got != "camera->ground" {
		t.Errorf("EdgeKey = %q", got)
	}
}

func mustParse(t *testing.T, src string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse("edges.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
