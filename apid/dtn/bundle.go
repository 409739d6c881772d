package dtn

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The BPv7 bundle (RFC 9171, section 4) as far as this package uses it: a
// primary block and a payload block out; in, any canonical blocks (those
// that are not the payload are skipped), CRCs carried but not checked
// (dtnd checked them when the bundle arrived over the convergence layer;
// between dtnd and us is a local socket).

// Bundle processing control flags (RFC 9171, 4.2.3) this package uses.
const (
	FlagAdminRecord     uint64 = 0x000002
	FlagMustNotFragment uint64 = 0x000004
	FlagReportDelivery  uint64 = 0x020000
	FlagReportDeletion  uint64 = 0x040000
)

// Block type codes.
const blockPayload = 1

// The URI scheme codes of endpoint IDs.
const (
	schemeDTN = 1
	schemeIPN = 2
)

// dtnEpoch is the DTN epoch, 2000-01-01 00:00:00 UTC: creation times count
// milliseconds from it.
var dtnEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// DTNTime returns t as milliseconds since the DTN epoch (0 before it).
func DTNTime(t time.Time) uint64 {
	if t.Before(dtnEpoch) {
		return 0
	}
	return uint64(t.Sub(dtnEpoch) / time.Millisecond)
}

// Bundle is the part of a bundle this package reads and writes. Endpoint
// IDs are in their URI form: "dtn://node/demux", "dtn:none", "ipn:1.2".
type Bundle struct {
	Flags       uint64
	Destination string
	Source      string
	ReportTo    string
	Created     uint64 // creation time, ms since the DTN epoch
	Seq         uint64 // creation sequence number
	Lifetime    uint64 // ms
	Payload     []byte // Decode: a slice of the input, not a copy
}

// ID is the bundle's identity (source, creation time, sequence number).
type ID struct {
	Source  string
	Created uint64
	Seq     uint64
}

// ID returns b's identity.
func (b *Bundle) ID() ID { return ID{b.Source, b.Created, b.Seq} }

// ValidEID checks that s is an endpoint ID this package can write: a
// "dtn://NODE/DEMUX" with a non-empty node name (DEMUX may be empty),
// "dtn:none", or "ipn:NODE.SERVICE".
func ValidEID(s string) error {
	_, err := appendEID(nil, s)
	return err
}

// appendEID appends the CBOR of endpoint ID s: [scheme, SSP].
func appendEID(b []byte, s string) ([]byte, error) {
	b = appendHead(b, majorArray, 2)
	switch {
	case s == "dtn:none":
		return appendUint(appendUint(b, schemeDTN), 0), nil
	case strings.HasPrefix(s, "dtn://"):
		node, _, ok := strings.Cut(s[len("dtn://"):], "/")
		if !ok || node == "" {
			return nil, fmt.Errorf("endpoint %q: want dtn://NODE/DEMUX", s)
		}
		for _, c := range s {
			if c <= ' ' || c == 0x7F {
				return nil, fmt.Errorf("endpoint %q: a space or control character", s)
			}
		}
		return appendText(appendUint(b, schemeDTN), s[len("dtn:"):]), nil
	case strings.HasPrefix(s, "ipn:"):
		n, svc, ok := strings.Cut(s[len("ipn:"):], ".")
		nv, err1 := strconv.ParseUint(n, 10, 64)
		sv, err2 := strconv.ParseUint(svc, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("endpoint %q: want ipn:NODE.SERVICE", s)
		}
		b = appendUint(b, schemeIPN)
		b = appendHead(b, majorArray, 2)
		return appendUint(appendUint(b, nv), sv), nil
	}
	return nil, fmt.Errorf("endpoint %q: want dtn://NODE/DEMUX, dtn:none or ipn:NODE.SERVICE", s)
}

// Append appends b's CBOR: an indefinite array of the primary block (no
// CRC, not a fragment) and the payload block, as dtnd reads bundles.
func (b *Bundle) Append(out []byte) ([]byte, error) {
	out = append(out, majorArray<<5|indefinite)
	out = appendHead(out, majorArray, 8)
	out = appendUint(out, 7) // version
	out = appendUint(out, b.Flags)
	out = appendUint(out, 0) // CRC type: none
	var err error
	for _, e := range [...]string{b.Destination, b.Source, b.ReportTo} {
		if out, err = appendEID(out, e); err != nil {
			return nil, err
		}
	}
	out = appendHead(out, majorArray, 2)
	out = appendUint(appendUint(out, b.Created), b.Seq)
	out = appendUint(out, b.Lifetime)
	// The payload block: type 1, number 1, no flags, no CRC.
	out = appendHead(out, majorArray, 5)
	out = append(out, blockPayload, 1, 0, 0)
	out = appendBytes(out, b.Payload)
	return append(out, breakCode), nil
}

// Decode reads one bundle from the start of in and returns it and the
// bytes it took. errShort (IsShort) means in ends inside it. The Payload
// is a slice of in; a bundle without a payload block is an error.
func Decode(in []byte) (Bundle, int, error) {
	var b Bundle
	d := decoder{b: in}
	n, err := decodeBundle(&d, &b)
	return b, n, err
}

func decodeBundle(d *decoder, b *Bundle) (int, error) {
	m, _, indef, err := d.head()
	if err != nil {
		return 0, err
	}
	if m != majorArray || !indef {
		return 0, fmt.Errorf("%w: a bundle is an indefinite array", errCBOR)
	}
	if err := decodePrimary(d, b); err != nil {
		return 0, err
	}
	payload := false
	for {
		brk, err := d.atBreak()
		if err != nil {
			return 0, err
		}
		if brk {
			break
		}
		n, err := d.arrayLen()
		if err != nil {
			return 0, err
		}
		if n != 5 && n != 6 {
			return 0, fmt.Errorf("%w: a canonical block has 5 or 6 fields, not %d", errCBOR, n)
		}
		typ, err := d.uint()
		if err != nil {
			return 0, err
		}
		for range 3 { // number, flags, CRC type
			if _, err := d.uint(); err != nil {
				return 0, err
			}
		}
		data, err := d.str(majorBytes)
		if err != nil {
			return 0, err
		}
		if n == 6 {
			if _, err := d.str(majorBytes); err != nil {
				return 0, err
			}
		}
		if typ == blockPayload {
			if payload {
				return 0, fmt.Errorf("%w: two payload blocks", errCBOR)
			}
			payload = true
			b.Payload = data
		}
	}
	if !payload {
		return 0, fmt.Errorf("%w: no payload block", errCBOR)
	}
	return d.off, nil
}

func decodePrimary(d *decoder, b *Bundle) error {
	n, err := d.arrayLen()
	if err != nil {
		return err
	}
	if n < 8 || n > 11 {
		return fmt.Errorf("%w: a primary block has 8 to 11 fields, not %d", errCBOR, n)
	}
	v, err := d.uint()
	if err != nil {
		return err
	}
	if v != 7 {
		return fmt.Errorf("%w: bundle protocol version %d, want 7", errCBOR, v)
	}
	if b.Flags, err = d.uint(); err != nil {
		return err
	}
	if _, err = d.uint(); err != nil { // CRC type
		return err
	}
	for _, e := range [...]*string{&b.Destination, &b.Source, &b.ReportTo} {
		if *e, err = decodeEID(d); err != nil {
			return err
		}
	}
	if err := decodeTimestamp(d, &b.Created, &b.Seq); err != nil {
		return err
	}
	if b.Lifetime, err = d.uint(); err != nil {
		return err
	}
	if n >= 10 { // fragment offset, total length
		for range 2 {
			if _, err := d.uint(); err != nil {
				return err
			}
		}
	}
	if n == 9 || n == 11 {
		if _, err := d.str(majorBytes); err != nil {
			return err
		}
	}
	return nil
}

func decodeTimestamp(d *decoder, created, seq *uint64) error {
	n, err := d.arrayLen()
	if err != nil {
		return err
	}
	if n != 2 {
		return fmt.Errorf("%w: a creation timestamp has 2 fields, not %d", errCBOR, n)
	}
	if *created, err = d.uint(); err != nil {
		return err
	}
	*seq, err = d.uint()
	return err
}

// decodeEID reads an endpoint ID into its URI form.
func decodeEID(d *decoder) (string, error) {
	n, err := d.arrayLen()
	if err != nil {
		return "", err
	}
	if n != 2 {
		return "", fmt.Errorf("%w: an endpoint ID has 2 fields, not %d", errCBOR, n)
	}
	scheme, err := d.uint()
	if err != nil {
		return "", err
	}
	switch scheme {
	case schemeDTN:
		if d.off < len(d.b) && d.b[d.off] == 0x00 { // uint 0: dtn:none
			d.off++
			return "dtn:none", nil
		}
		s, err := d.str(majorText)
		if err != nil {
			return "", err
		}
		return "dtn:" + string(s), nil
	case schemeIPN:
		if n, err := d.arrayLen(); err != nil || n != 2 {
			return "", errCBOR
		}
		node, err := d.uint()
		if err != nil {
			return "", err
		}
		svc, err := d.uint()
		if err != nil {
			return "", err
		}
		return "ipn:" + strconv.FormatUint(node, 10) + "." + strconv.FormatUint(svc, 10), nil
	}
	return "", fmt.Errorf("%w: endpoint scheme %d", errCBOR, scheme)
}

// IsShort reports whether err means the input ended inside an item (more
// bytes may complete it), as opposed to a malformed one.
func IsShort(err error) bool { return errors.Is(err, errShort) }

// StatusReport is what an administrative record of type 1 (RFC 9171,
// 6.1.1) says about one bundle: which of received, forwarded, delivered
// and deleted it asserts, the reason code, and the bundle's identity.
type StatusReport struct {
	Received, Forwarded, Delivered, Deleted bool
	Reason                                  uint64
	Bundle                                  ID
}

// DecodeStatusReport reads the payload of an administrative record bundle.
// It fails for records of other types.
func DecodeStatusReport(payload []byte) (StatusReport, error) {
	var r StatusReport
	d := decoder{b: payload}
	if n, err := d.arrayLen(); err != nil || n != 2 {
		return r, fmt.Errorf("%w: an administrative record is [type, content]", errCBOR)
	}
	typ, err := d.uint()
	if err != nil {
		return r, err
	}
	if typ != 1 {
		return r, fmt.Errorf("%w: administrative record type %d is not a status report", errCBOR, typ)
	}
	n, err := d.arrayLen()
	if err != nil {
		return r, err
	}
	if n != 4 && n != 6 {
		return r, fmt.Errorf("%w: a status report has 4 or 6 fields, not %d", errCBOR, n)
	}
	k, err := d.arrayLen()
	if err != nil {
		return r, err
	}
	if k > 4 {
		return r, fmt.Errorf("%w: %d status items, at most 4", errCBOR, k)
	}
	items := [4]*bool{&r.Received, &r.Forwarded, &r.Delivered, &r.Deleted}
	for i := range k {
		m, err := d.arrayLen()
		if err != nil {
			return r, err
		}
		if m != 1 && m != 2 {
			return r, fmt.Errorf("%w: a status item has 1 or 2 fields", errCBOR)
		}
		if *items[i], err = d.bool(); err != nil {
			return r, err
		}
		if m == 2 {
			if _, err := d.uint(); err != nil {
				return r, err
			}
		}
	}
	if r.Reason, err = d.uint(); err != nil {
		return r, err
	}
	if r.Bundle.Source, err = decodeEID(&d); err != nil {
		return r, err
	}
	if err := decodeTimestamp(&d, &r.Bundle.Created, &r.Bundle.Seq); err != nil {
		return r, err
	}
	return r, nil
}
