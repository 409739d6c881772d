package nicbench

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"spacenet/internal/netnstest"
	"spacenet/ip/nic"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCheck: each bound of Options is refused one past it and taken at it.
func TestCheck(t *testing.T) {
	ok := Options{Frames: 1, Size: 14, Batch: 1}
	for _, tc := range []struct {
		name string
		edit func(o *Options)
		bad  bool
	}{
		{"least", func(*Options) {}, false},
		{"largest", func(o *Options) { o.Size, o.Batch = 1514, 512 }, false},
		{"size 13", func(o *Options) { o.Size = 13 }, true},
		{"size 1515", func(o *Options) { o.Size = 1515 }, true},
		{"batch 0", func(o *Options) { o.Batch = 0 }, true},
		{"batch 513", func(o *Options) { o.Batch = 513 }, true},
		{"frames 0", func(o *Options) { o.Frames = 0 }, true},
	} {
		o := ok
		tc.edit(&o)
		if err := o.Check(); (err != nil) != tc.bad {
			t.Errorf("%s: Check() = %v, want error %v", tc.name, err, tc.bad)
		}
	}
}

// TestRunSmoke: a line per adapter, each with both figures and a ratio.
func TestRunSmoke(t *testing.T) {
	var out bytes.Buffer
	if err := Run(Options{Frames: 5000, Size: 64, Batch: 16, Out: &out}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "pipe ") || !strings.HasPrefix(lines[1], "qemu-stream ") {
		t.Fatalf("output:\n%s", out.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, "frames/s") || !strings.Contains(l, "ratio ") {
			t.Errorf("line %q", l)
		}
	}
}

// TestRateWholeBatchesAndRest: Rate delivers every frame when the total
// is not a multiple of the batch, and a closed receiver ends it with an
// error, not a hang.
func TestRateWholeBatchesAndRest(t *testing.T) {
	a, b := nic.NewPipe(1500, 512)
	defer a.Close()
	defer b.Close()
	if r, err := Rate(a, b, 1000+7, 100, 64); err != nil || r <= 0 {
		t.Fatalf("Rate: %v %v", r, err)
	}
	b.Close()
	if _, err := Rate(a, b, 1000, 100, 64); err == nil {
		t.Fatal("Rate with a closed receiver: no error")
	}
}

// TestRunVeth: with Veth, a third line for AF_PACKET over a veth pair
// (root; skipped where the kernel refuses veth or AF_PACKET).
func TestRunVeth(t *testing.T) {
	var out bytes.Buffer
	err := Run(Options{Frames: 2000, Size: 64, Batch: 16, Veth: true, Out: &out})
	netnstest.SkipIfRefused(t, err, "veth and AF_PACKET")
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[2], "packet ") {
		t.Fatalf("output:\n%s", out.String())
	}
}
