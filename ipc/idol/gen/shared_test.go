package gen

import (
	"bytes"
	"sync"
	"testing"

	"spacenet/ipc/idol"
)

// TestSharedTypes: Generate leaves the caller's Types as it found it, so
// concurrent calls sharing one (run with -race) give the same bytes as a
// call on its own, and a Types built by hand (not by ParseTypes) works.
func TestSharedTypes(t *testing.T) {
	iface, err := idol.ParseFile("../../../idl/camera.idol")
	if err != nil {
		t.Fatal(err)
	}
	ty, err := LoadTypes("../../../idl/types.toml")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Package: "cameraipc", Source: "camera.idol", Types: ty}
	want, err := Generate(iface, opts)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	got := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = Generate(iface, opts) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !bytes.Equal(got[i], want) {
			t.Errorf("call %d: %d bytes, %v; want the %d bytes of a lone call", i, len(got[i]), errs[i], len(want))
		}
	}

	byHand := &Types{Consts: ty.Consts, Types: ty.Types}
	src, err := Generate(iface, Options{Package: "cameraipc", Source: "camera.idol", Types: byHand})
	if err != nil || !bytes.Equal(src, want) {
		t.Errorf("hand-built Types: %d bytes, %v; want the %d bytes of a parsed one", len(src), err, len(want))
	}
	if byHand.named != nil {
		t.Errorf("Generate wrote its resolution into the caller's Types")
	}
}
