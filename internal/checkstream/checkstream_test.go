package checkstream

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

// TestStream: ReadAt at any offset agrees with the stream written from
// the start, across the period's edge, and Sum is the sha256 of Write.
func TestStream(t *testing.T) {
	const size = 3*Period + 17
	var all bytes.Buffer
	if err := Write(&all, size); err != nil || all.Len() != size {
		t.Fatalf("Write: %v, %d bytes", err, all.Len())
	}
	for _, off := range []int64{0, 1, Period - 3, Period, 2*Period + 5} {
		p := make([]byte, 100)
		if n, err := (Source{}).ReadAt(p, off); n != len(p) || err != nil || !bytes.Equal(p, all.Bytes()[off:off+100]) {
			t.Errorf("ReadAt(%d): %d %v, bytes differ from the stream", off, n, err)
		}
	}
	if !bytes.Equal(all.Bytes()[:Period], all.Bytes()[Period:2*Period]) || bytes.Equal(all.Bytes()[:100], all.Bytes()[1:101]) {
		t.Error("the stream does not repeat every Period bytes, or is constant")
	}
	if Sum(size) != sha256.Sum256(all.Bytes()) {
		t.Error("Sum is not the sha256 of Write")
	}
}
