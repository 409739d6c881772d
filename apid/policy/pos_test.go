package policy

import (
	"reflect"
	"testing"
)

func TestScan(t *testing.T) {
	in := `# [[tenant]] in a comment is not a header
top = "x = [" # a string holding brackets
[[tenant]]   # first
name = "a"
owns = [ "0x010", # "0x011" in a comment
  '0x012', """0x013""",
  "0x014"
]
can_send_to = [["x"], {y = 1}, 5, "b"]
"downlink" = true
note = """
[[tenant]]
"""
[ other ]
k = 1
[[ 'tenant' ]]
name = "b\" = ["
owns=["0x020"]
`
	ps := scan([]byte(in))
	if got := ps.keys; !reflect.DeepEqual(got, map[string]int{"top": 2, "tenant": 3, "tenant.name": 4, "tenant.owns": 5,
		"tenant.can_send_to": 9, "tenant.downlink": 10, "tenant.note": 11, "other": 14, "other.k": 15}) {
		t.Errorf("keys = %v", got)
	}
	if len(ps.tenants) != 2 {
		t.Fatalf("%d tenants, want 2", len(ps.tenants))
	}
	a, b := ps.tenants[0], ps.tenants[1]
	if a.header != 3 || b.header != 16 {
		t.Errorf("headers at %d, %d; want 3, 16", a.header, b.header)
	}
	if want := map[string]int{"name": 4, "owns": 5, "can_send_to": 9, "downlink": 10, "note": 11}; !reflect.DeepEqual(a.fields, want) {
		t.Errorf("tenant a fields = %v, want %v", a.fields, want)
	}
	if want := []int{5, 6, 6, 7}; !reflect.DeepEqual(a.elems["owns"], want) {
		t.Errorf("tenant a owns elements at %v, want %v", a.elems["owns"], want)
	}
	if want := []int{9, 9, 9, 9}; !reflect.DeepEqual(a.elems["can_send_to"], want) {
		t.Errorf("tenant a can_send_to elements at %v, want %v", a.elems["can_send_to"], want)
	}
	if want := map[string]int{"name": 17, "owns": 18}; !reflect.DeepEqual(b.fields, want) {
		t.Errorf("tenant b fields = %v, want %v", b.fields, want)
	}
	// The scanner never fails, whatever it is given.
	for _, s := range []string{"[", "[[", "\"", "'''", `"""\`, "a = [", "= =", "[[tenant]]\nowns = [\"\\"} {
		scan([]byte(s))
	}
}
