package monitor

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/policy"
)

// Limits of the protocol.
const (
	MaxRequest    = 4096 // bytes of a request line, newline included
	MaxFilterSize = 64   // tenants, and APID ranges, in one request
	MaxError      = 1024 // bytes of an Error record's message
	DefaultBuffer = 4096 // frames in a tap's ring unless the request says
)

// Request is what a client asks for: the frames of these tenants (and
// "ground"; none: every peer), with a source or destination APID in one of
// these ranges ("0x010-0x01F", "0x020", decimal too; none: every APID), in
// this direction ("in": written by the peer to the switch, "out": written
// by the switch to the peer, "" or "both"), through a tap of Buffer frames
// (0: DefaultBuffer; at most apidswitch.MaxTapCapacity).
type Request struct {
	Tenants   []string `json:"tenants,omitempty"`
	APIDs     []string `json:"apids,omitempty"`
	Direction string   `json:"direction,omitempty"`
	Buffer    int      `json:"buffer,omitempty"`
}

var peerRE = regexp.MustCompile(`^` + policy.NamePattern + `$`)

// Filter checks r and returns the tap filter and ring size it asks for.
// Errors name the offending field.
func (r *Request) Filter() (apidswitch.TapFilter, int, error) {
	var f apidswitch.TapFilter
	if len(r.Tenants) > MaxFilterSize || len(r.APIDs) > MaxFilterSize {
		return f, 0, fmt.Errorf("request: at most %d tenants and %d APID ranges", MaxFilterSize, MaxFilterSize)
	}
	for _, name := range r.Tenants {
		if !peerRE.MatchString(name) {
			return f, 0, fmt.Errorf("request: tenants: %q is not a tenant name", name)
		}
	}
	if len(r.Tenants) > 0 {
		f.Tenants = r.Tenants
	}
	for _, s := range r.APIDs {
		rg, err := policy.ParseRange(s)
		if err != nil {
			return f, 0, fmt.Errorf("request: apids: %q: %v", s, err)
		}
		f.APIDs = append(f.APIDs, rg)
	}
	switch r.Direction {
	case "", "both":
	case "in":
		f.In = true
	case "out":
		f.Out = true
	default:
		return f, 0, fmt.Errorf("request: direction %q: want in, out or both", r.Direction)
	}
	size := r.Buffer
	if size == 0 {
		size = DefaultBuffer
	}
	if size < 1 || size > apidswitch.MaxTapCapacity {
		return f, 0, fmt.Errorf("request: buffer %d: want 1 to %d frames", r.Buffer, apidswitch.MaxTapCapacity)
	}
	return f, size, nil
}

// ParseRequest reads a request line (JSON, unknown fields refused).
func ParseRequest(line []byte) (Request, error) {
	var r Request
	if len(line) > MaxRequest {
		return r, fmt.Errorf("request: over %d bytes", MaxRequest)
	}
	d := json.NewDecoder(bytes.NewReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return r, fmt.Errorf("request: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return r, errors.New("request: more than one JSON object")
	}
	return r, nil
}

// The record kinds, the first byte of each record.
const (
	KindReady = 'R' // the tap is open: version byte
	KindFrame = 'F' // direction byte, name length byte, time (int64 ns since 1970), name, the 256-byte frame
	KindStats = 'S' // passed, delivered, dropped (uint64 each)
	KindError = 'E' // message length (uint16), message: the request was refused
)

// Version is the protocol version a Ready record carries.
const Version = 1

// Event is one record read by ReadEvent.
type Event struct {
	Kind   byte
	Record apidswitch.TapRecord // KindFrame
	Stats  apidswitch.TapStats  // KindStats
	Err    string               // KindError
}

// AppendReady appends a Ready record to b.
func AppendReady(b []byte) []byte { return append(b, KindReady, Version) }

// AppendFrame appends r as a Frame record to b. Peer names are at most 255
// bytes (policy names are at most 32).
func AppendFrame(b []byte, r *apidswitch.TapRecord) []byte {
	dir := byte(0)
	if r.Out {
		dir = 1
	}
	name := r.Tenant[:min(len(r.Tenant), 255)]
	b = append(b, KindFrame, dir, byte(len(name)))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixNano()))
	b = append(b, name...)
	return append(b, r.Frame[:]...)
}

// AppendStats appends a Stats record to b.
func AppendStats(b []byte, st apidswitch.TapStats) []byte {
	b = append(b, KindStats)
	b = binary.BigEndian.AppendUint64(b, st.Passed)
	b = binary.BigEndian.AppendUint64(b, st.Delivered)
	return binary.BigEndian.AppendUint64(b, st.Dropped)
}

// AppendError appends an Error record with msg (cut to MaxError bytes).
func AppendError(b []byte, msg string) []byte {
	msg = msg[:min(len(msg), MaxError)]
	b = append(b, KindError)
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	return append(b, msg...)
}

// ErrBadRecord is the error of ReadEvent for bytes that are not a record.
var ErrBadRecord = errors.New("monitor: bad record")

// ReadEvent reads one record. It returns io.EOF at a clean end between
// records, io.ErrUnexpectedEOF within one, and ErrBadRecord (wrapped) for
// an unknown kind, direction or version, or an Error record over MaxError.
func ReadEvent(r *bufio.Reader) (Event, error) {
	var e Event
	kind, err := r.ReadByte()
	if err != nil {
		return e, err
	}
	e.Kind = kind
	full := func(b []byte) error {
		if _, err := io.ReadFull(r, b); err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		return nil
	}
	switch kind {
	case KindReady:
		var v [1]byte
		if err := full(v[:]); err != nil {
			return e, err
		}
		if v[0] != Version {
			return e, fmt.Errorf("%w: version %d, want %d", ErrBadRecord, v[0], Version)
		}
	case KindFrame:
		var h [10]byte
		if err := full(h[:]); err != nil {
			return e, err
		}
		if h[0] > 1 {
			return e, fmt.Errorf("%w: direction %d", ErrBadRecord, h[0])
		}
		name := make([]byte, h[1])
		if err := full(name); err != nil {
			return e, err
		}
		if err := full(e.Record.Frame[:]); err != nil {
			return e, err
		}
		e.Record.Out = h[0] == 1
		e.Record.Time = time.Unix(0, int64(binary.BigEndian.Uint64(h[2:])))
		e.Record.Tenant = string(name)
	case KindStats:
		var b [24]byte
		if err := full(b[:]); err != nil {
			return e, err
		}
		e.Stats = apidswitch.TapStats{
			Passed:    binary.BigEndian.Uint64(b[0:]),
			Delivered: binary.BigEndian.Uint64(b[8:]),
			Dropped:   binary.BigEndian.Uint64(b[16:]),
		}
	case KindError:
		var n [2]byte
		if err := full(n[:]); err != nil {
			return e, err
		}
		k := binary.BigEndian.Uint16(n[:])
		if k > MaxError {
			return e, fmt.Errorf("%w: error message of %d bytes", ErrBadRecord, k)
		}
		msg := make([]byte, k)
		if err := full(msg); err != nil {
			return e, err
		}
		e.Err = string(msg)
	default:
		return e, fmt.Errorf("%w: kind %#02x", ErrBadRecord, kind)
	}
	return e, nil
}
