package gen_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"spacenet/ipc"
	"spacenet/ipc/idol"
	"spacenet/ipc/idol/gen"
	"spacenet/ipc/idol/gen/internal/fixture"
	"spacenet/ipc/idol/gen/internal/peek"
)

// fixtureServer records what the generated dispatcher handed it.
type fixtureServer struct {
	on     []bool
	sensor []fixture.SensorId
}

func (s *fixtureServer) SetFlag(ctx context.Context, caller ipc.Caller, on bool) (uint8, error) {
	s.on = append(s.on, on)
	return 1, nil
}
func (s *fixtureServer) Put(ctx context.Context, caller ipc.Caller, a uint8, b, c uint64) error {
	return nil
}
func (s *fixtureServer) Stamp(ctx context.Context, caller ipc.Caller, t uint32) (uint32, error) {
	return t, nil
}
func (s *fixtureServer) Sense(ctx context.Context, caller ipc.Caller, id fixture.SensorId) (uint32, error) {
	s.sensor = append(s.sensor, id)
	return id.Index, nil
}
func (s *fixtureServer) Peek16(ctx context.Context, caller ipc.Caller, addr uint16) (uint16, error) {
	return addr, nil
}

// TestUpstreamLeniency: each place the dispatcher follows upstream idol's
// leniency (or its fault), with the bytes that differ from the stricter
// rule this generator had before.
func TestUpstreamLeniency(t *testing.T) {
	tests := []struct {
		name string
		req  ipc.Request
		want error // nil: served
	}{
		// Upstream holds a bare bool argument as a u8 and tests != 0: 0x02 is true.
		{"hubpack bool 0x02", ipc.Request{Op: fixture.FixtureOpSetFlag, Args: []byte{0x02}, ReplyCap: 1}, nil},
		{"hubpack bool 0xff", ipc.Request{Op: fixture.FixtureOpSetFlag, Args: []byte{0xff}, ReplyCap: 1}, nil},
		// Trailing bytes past set_flag's own size (1) but within IncomingSize (17: put's 1+8+8) are ignored.
		{"trailing within IncomingSize", ipc.Request{Op: fixture.FixtureOpSetFlag, Args: append([]byte{0}, make([]byte, 16)...), ReplyCap: 1}, nil},
		{"past IncomingSize", ipc.Request{Op: fixture.FixtureOpSetFlag, Args: make([]byte, 18), ReplyCap: 1}, ipc.BadMessageSize},
		// A Zerocopy message of the wrong length does not convert: BadMessageContents, as upstream.
		{"zerocopy short", ipc.Request{Op: fixture.FixtureOpStamp, Args: []byte{1, 2, 3}, ReplyCap: 4}, ipc.BadMessageContents},
		{"zerocopy long", ipc.Request{Op: fixture.FixtureOpStamp, Args: []byte{1, 2, 3, 4, 5}, ReplyCap: 4}, ipc.BadMessageContents},
		{"zerocopy exact", ipc.Request{Op: fixture.FixtureOpStamp, Args: []byte{1, 2, 3, 4}, ReplyCap: 4}, nil},
	}
	srv := &fixtureServer{}
	d := fixture.NewFixtureDispatcher(srv)
	for _, tt := range tests {
		var rep ipc.Reply
		if err := d.Handle(context.Background(), ipc.Caller{Tenant: "t"}, &tt.req, &rep); err != tt.want {
			t.Errorf("%s (% x): got %v, want %v", tt.name, tt.req.Args, err, tt.want)
		}
	}
	if d := cmp.Diff([]bool{true, true, false}, srv.on); d != "" {
		t.Errorf("bools the server got (-want +got):\n%s", d)
	}
}

// TestFromFunction: From("u32", Some("sensor_id")): the client sends the
// u32, the server gets the SensorId the package's sensor_id makes of it.
func TestFromFunction(t *testing.T) {
	srv := &fixtureServer{}
	pipe := ipc.NewPipe(fixture.NewFixtureDispatcher(srv), ipc.Caller{Tenant: "t"})
	got, err := fixture.NewFixtureClient(pipe).Sense(context.Background(), 7)
	if err != nil || got != 7 {
		t.Fatalf("Sense = %d, %v", got, err)
	}
	if d := cmp.Diff([]fixture.SensorId{{Index: 7}}, srv.sensor); d != "" {
		t.Errorf("server got (-want +got):\n%s", d)
	}
}

// TestNoClientForClientOnlyProblem: peek16 (non-idempotent, Simple reply)
// gets a server method and no client method; generation says why, at the
// op's position.
func TestNoClientForClientOnlyProblem(t *testing.T) {
	if _, ok := reflect.TypeFor[*peek.PeekClient]().MethodByName("Peek16"); ok {
		t.Error("PeekClient has Peek16")
	}
	if _, ok := reflect.TypeFor[*peek.PeekClient]().MethodByName("Poke16"); !ok {
		t.Error("PeekClient lacks Poke16")
	}
	if _, ok := reflect.TypeFor[peek.PeekServer]().MethodByName("Peek16"); !ok {
		t.Error("PeekServer lacks Peek16")
	}
	f, err := idol.LoadFile("../testdata/clientonly/peek.idol")
	if err != nil {
		t.Fatal(err)
	}
	var warns []string
	src, err := gen.Generate(f.Interface, gen.Options{Package: "peek", Source: "peek.idol", File: f, Warn: func(m string) { warns = append(warns, m) }})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`../testdata/clientonly/peek.idol:8:9: op peek16: no client method generated (upstream's client generator refuses it too): non-idempotent op has a Simple reply (it could not report a server restart); the server side is generated`}
	if d := cmp.Diff(want, warns); d != "" {
		t.Errorf("warnings (-want +got):\n%s", d)
	}
	if !strings.Contains(string(src), "func (s *PeekDispatcher) handlePeek16(") {
		t.Error("no server handler for peek16")
	}
}
