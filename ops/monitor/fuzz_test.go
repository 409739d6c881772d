package monitor

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
)

// FuzzReadEvent: any bytes read as records never panic, and every record
// read is written back to the same bytes.
func FuzzReadEvent(f *testing.F) {
	rec := apidswitch.TapRecord{Time: time.Unix(0, 1764700000123456789), Tenant: "camera", Out: true}
	frame.Encode(&rec.Frame, frame.TM, 0x010, 0x020, []byte("x"))
	var b []byte
	b = AppendReady(b)
	b = AppendFrame(b, &rec)
	b = AppendStats(b, apidswitch.TapStats{Passed: 3, Delivered: 2, Dropped: 1})
	b = AppendError(b, "no")
	f.Add(b)
	f.Add([]byte{KindFrame, 2})
	f.Add([]byte{KindError, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		off := 0
		for {
			e, err := ReadEvent(r)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrBadRecord) {
					t.Fatalf("error %v", err)
				}
				return
			}
			var out []byte
			switch e.Kind {
			case KindReady:
				out = AppendReady(nil)
			case KindFrame:
				out = AppendFrame(nil, &e.Record)
			case KindStats:
				out = AppendStats(nil, e.Stats)
			case KindError:
				out = AppendError(nil, e.Err)
			}
			if !bytes.Equal(out, in[off:off+len(out)]) {
				t.Fatalf("record %c at %d written back differs", e.Kind, off)
			}
			off += len(out)
		}
	})
}

// FuzzParseRequest: any request line parses or is refused without a
// panic, and a request accepted round-trips.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"tenants":["camera","ground"],"apids":["0x010-0x01F","32"],"direction":"in","buffer":16}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"direction":"sideways"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseRequest(line)
		if err != nil {
			return
		}
		f1, n1, err := r.Filter()
		if err != nil {
			return
		}
		b, err := jsonLine(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := ParseRequest(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		f2, n2, err := r2.Filter()
		if err != nil || n1 != n2 || !reflect.DeepEqual(f1, f2) {
			t.Fatalf("%s: %+v %d, then %+v %d (%v)", b, f1, n1, f2, n2, err)
		}
	})
}
