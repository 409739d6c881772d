package policy_test

import (
	"fmt"
	"slices"
	"testing"

	"spacenet/apid/policy"
)

// TestEdges: a policy's edges, each tenant's in policy order, then the
// ground's, with the ranges a partial can_send_to reaches.
func TestEdges(t *testing.T) {
	var got []string
	for _, e := range edgesPolicy(t).Edges() {
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

// edgesPolicy is testdata/edges.toml, parsed.
func edgesPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Load("testdata/edges.toml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
