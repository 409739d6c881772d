package ipc

import "testing"

// TestScratchReset: what a Scratch keeps for the next call and what it
// lets go of when it is put back.
func TestScratchReset(t *testing.T) {
	sink := make([]byte, 64)
	tests := []struct {
		name     string
		bodyCap  int
		argsCap  int
		keepBody bool
		keepArgs bool
	}{
		{"small", 16, 8, true, true},
		{"at the bound", scratchKeep, scratchKeep, true, true},
		{"large body", scratchKeep + 1, 8, false, true},
		{"large args", 16, scratchKeep + 1, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Scratch
			args := s.Args(tt.argsCap)
			args[0] = 0xff
			s.Req = Request{Op: 3, Args: args, ReplyCap: 9, Leases: s.Leases(2)}
			s.Req.Leases[0] = Lease{Write: true, Data: sink}
			s.Req.Leases[1] = Lease{Read: true, Data: sink}
			written := [][]byte{sink, nil}
			s.Rep = Reply{RC: 7, Body: make([]byte, 5, tt.bodyCap), Written: written}
			s.reset()

			if s.Req.Op != 0 || s.Req.Args != nil || s.Req.ReplyCap != 0 || s.Req.Leases != nil {
				t.Errorf("Req after reset = %+v, want zero", s.Req)
			}
			for i, l := range s.leases[:cap(s.leases)] {
				if l.Data != nil {
					t.Errorf("lease %d still refers to the caller's buffer", i)
				}
			}
			if s.Rep.RC != 0 || len(s.Rep.Body) != 0 || s.Rep.Written != nil {
				t.Errorf("Rep after reset = %+v, want empty", s.Rep)
			}
			if written[0] == nil {
				t.Error("reset cleared the transport's Written slice")
			}
			if got := cap(s.Rep.Body) > 0; got != tt.keepBody {
				t.Errorf("body kept = %v, want %v", got, tt.keepBody)
			}
			if got := cap(s.args) > 0; got != tt.keepArgs {
				t.Errorf("args kept = %v, want %v", got, tt.keepArgs)
			}
			if a := s.Args(4); len(a) != 4 || a[0] != 0 {
				t.Errorf("Args(4) = % x, want 4 zero bytes", a)
			}
			if l := s.Leases(1); len(l) != 1 || l[0].Read || l[0].Write || l[0].Data != nil {
				t.Errorf("Leases(1) = %+v, want one zero lease", l)
			}
		})
	}
}

// TestScratchAllocs: a warm Scratch hands out its buffers without
// allocating.
func TestScratchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts need a build without -race (sync.Pool drops objects under the race detector)")
	}
	if n := testing.AllocsPerRun(100, func() {
		s := GetScratch()
		s.Req = Request{Op: 1, Args: s.Args(16), Leases: s.Leases(2)}
		s.Rep.Body = append(s.Rep.Body[:0], 1, 2, 3)
		s.Put()
	}); n != 0 {
		t.Errorf("%.1f allocations per Get/Put, want 0", n)
	}
}
