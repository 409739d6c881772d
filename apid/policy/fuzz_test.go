package policy

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics, that it returns exactly one of
// a policy and an error, that every error is an *Error, and that an accepted
// input written back with WriteTOML parses to the same tenants.
func FuzzParse(f *testing.F) {
	if v0, err := os.ReadFile("testdata/v0.toml"); err == nil {
		f.Add(v0)
	}
	f.Add([]byte(defaultTOML))
	f.Add([]byte("[[tenant]]\nname = \"a\"\nowns = [\"0x010-0x01F\", \"0x7FE\"]\ncan_send_to = [\"0x000-0x7FF\", \"a\"]\n"))
	f.Add([]byte("tenant = [{name = \"a\", owns = [\"0x010\"]}, {name = \"b\", owns = [\"0x010\"], x = 1}]\n"))
	f.Add([]byte("[[tenant]]\nname = 5\nowns = [16, \"0x800\"]\ndownlink = \"yes\"\n[x]\ny = 1\n"))
	f.Add([]byte("[[tenant]]\nname = \"a\nowns = []\n"))
	f.Add([]byte(""))
	f.Add([]byte("[[tenant]]\nname = \"a\"\nowns = [\"0x010\"]\n[ground]\nowns = [\"0x7A0-0x7A3\", \"0x010\"]\ncan_send_to = []\n"))
	f.Add([]byte("[[tenant]]\nname = \"a\"\nowns = [\"0x7F0\"]\n[ground]\ncan_send_to = [\"a\", \"b\"]\nx = 1\n[[ground]]\n"))
	f.Add([]byte("[[tenant]]\nname = \"a\"\nowns = [\"0x010\"]\ncan_send_to = [\"r\"]\n[[remote]]\nname = \"r\"\nowns = [\"0x020-0x02F\"]\nendpoint = \"dtn://b/s\"\nlifetime = \"1m\"\ncan_send_to = [\"a\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.toml", data)
		if (p == nil) == (err == nil) {
			t.Fatalf("Parse returned policy %v and error %v", p, err)
		}
		if err != nil {
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			for _, e := range errs {
				var pe *Error
				if !errors.As(e, &pe) || e.Error() == "" {
					t.Fatalf("error %q (%T) is not a *Error", e, e)
				}
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted policy fails Validate: %v", err)
		}
		var b bytes.Buffer
		if err := p.WriteTOML(&b); err != nil {
			t.Fatal(err)
		}
		q, err := Parse("again.toml", b.Bytes())
		if err != nil {
			t.Fatalf("WriteTOML output does not parse: %v\n%s", err, b.String())
		}
		if !reflect.DeepEqual(p.Tenants, q.Tenants) || !reflect.DeepEqual(p.Ground, q.Ground) {
			t.Fatalf("round trip changed the policy:\n%+v %+v\n%+v %+v", p.Tenants, p.Ground, q.Tenants, q.Ground)
		}
	})
}
