package suggest

import "testing"

func TestClosest(t *testing.T) {
	fields := []string{"args", "leases", "reply", "idempotent", "encoding"}
	tenants := []string{"camera", "processor", "spaceos"}
	for _, tt := range []struct {
		name  string
		cands []string
		want  string
	}{
		{"idempotnt", fields, "idempotent"}, {"Idempotent", fields, "idempotent"},
		{"lease", fields, "leases"}, {"arg", fields, "args"},
		{"colour", fields, ""}, {"x", fields, ""}, {"", fields, ""},
		{"procesor", tenants, "processor"}, {"spaceOS", tenants, "spaceos"},
		{"spaceso", tenants, "spaceos"}, {"cam", tenants, ""}, {"camaro", tenants, "camera"},
	} {
		if got := Closest(tt.name, tt.cands); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("editDistance = %d, want 3", d)
	}
}
