package wire

import "strconv"

// Kind says why a parse refused its input. It implements error, so
// errors.Is(err, wire.Truncated) matches any FieldError of that kind.
type Kind uint8

// The kinds of refusal.
const (
	// Truncated: the buffer ends before the field (or the length a field
	// announces) does.
	Truncated Kind = 1 + iota
	// Invalid: the field holds a value the format forbids or that
	// contradicts another field.
	Invalid
	// Unsupported: the value is valid but this package does not decode it.
	Unsupported
	// BadChecksum: a checksum does not verify (only the Verify helpers and
	// package endpoint report this).
	BadChecksum
)

var kindNames = [...]string{Truncated: "truncated", Invalid: "invalid", Unsupported: "unsupported", BadChecksum: "bad checksum"}

// String names the kind.
func (k Kind) String() string {
	if k >= Truncated && k <= BadChecksum {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Error implements error.
func (k Kind) Error() string { return "wire: " + k.String() }

// FieldError names the layer and field where a parse refused its input, with
// the offending value and the limit it broke. For Truncated, Value is the
// length needed and Limit the length available.
type FieldError struct {
	Layer string // "ipv4", "tcp", ...
	Field string // "total_length", "data_offset", ...
	Kind  Kind
	Value int
	Limit int
}

// Error implements error: "wire: ipv4 total_length truncated (70, limit 60)".
func (e *FieldError) Error() string {
	return "wire: " + e.Layer + " " + e.Field + " " + e.Kind.String() +
		" (" + strconv.Itoa(e.Value) + ", limit " + strconv.Itoa(e.Limit) + ")"
}

// Unwrap returns the Kind, for errors.Is.
func (e *FieldError) Unwrap() error { return e.Kind }

// fail records a refusal in e and returns false, so checks read
// `return e.fail(...)`.
func (e *FieldError) fail(layer, field string, k Kind, value, limit int) bool {
	*e = FieldError{Layer: layer, Field: field, Kind: k, Value: value, Limit: limit}
	return false
}

// short records a truncation (need bytes, have bytes) and returns false.
func (e *FieldError) short(layer, field string, need, have int) bool {
	return e.fail(layer, field, Truncated, need, have)
}

// heapErr copies a stack FieldError to the heap: public Parse functions use
// it on their failure path only.
func heapErr(fe *FieldError) error {
	e := new(FieldError)
	*e = *fe
	return e
}
