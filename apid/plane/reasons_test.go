package plane

import (
	"testing"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
)

// TestReasonsSkippedBytes: Report's table shows the bytes a resync skipped
// after the drop reasons.
func TestReasonsSkippedBytes(t *testing.T) {
	var c apidswitch.Counters
	c.Dropped[frame.UnknownVersion] = 1
	c.SkippedBytes = 39
	if got, want := reasons(&c), "Unknown_version=1,skipped_bytes=39"; got != want {
		t.Errorf("reasons = %q, want %q", got, want)
	}
}
