// Package idol reads Idol interface definitions (the IPC interface language of
// the Hubris operating system) into the model of an interface, applies the
// semantic checks upstream idol applies, and writes the model out as the
// JSON of the spec (Dump) or as canonical Idol RON (Format).
//
// Parse does syntax (package ron) and shape (wrong kinds, missing or unknown
// fields, lower-case variants); Check does the semantic rules upstream's
// parser and server generation apply; ParseChecked, ParseFile and LoadFile
// do both, and their errors name file:line:col. ClientProblems lists the
// rules upstream applies only to client generation. LoadFile also returns
// warnings (unknown op fields, with a suggestion) and the positions of each
// op's parts.
//
// It does not generate code (see ipc/idol/gen) and does not carry calls (see
// package ipc).
package idol

// Interface is one parsed .idol file.
type Interface struct {
	Name string
	Ops  []Op // in file order; Ops[i].Code == i+1
}

// Op is one operation.
type Op struct {
	Name       string
	Code       uint16 // 1-based position in the file's ops map
	Args       []Arg
	Leases     []Lease
	Reply      Reply
	Idempotent bool
	Encoding   Encoding
	Doc        *string // the op's doc (else description) string, or nil
}

// Arg is a named argument.
type Arg struct {
	Name string
	AttributedType
}

// AttributedType is a type with its receive strategy.
type AttributedType struct {
	Type string // as written in the file, trimmed
	Recv RecvStrategy
}

// RecvKind says how the server turns wire bytes into an argument's value.
type RecvKind uint8

// The receive strategies.
const (
	FromBytes     RecvKind = iota // the wire type is the type
	FromPrimitive                 // an enum carried as the primitive in RecvStrategy.Type
	From                          // a wire type converted with an optional function
)

// RecvStrategy is FromBytes, FromPrimitive("u8") or From("usize", Some("f")).
type RecvStrategy struct {
	Kind RecvKind
	Type string  // FromPrimitive and From: the wire type
	Func *string // From: the conversion function, or nil for None
}

// Lease is a borrowed buffer the server may read, write or both.
type Lease struct {
	Name   string
	Type   string // "[u8]" for a slice, or a single element type
	Read   bool
	Write  bool
	MaxLen *uint32 // in elements, inclusive; nil when absent
}

// ReplyKind is Simple or Result.
type ReplyKind uint8

// The reply kinds.
const (
	Simple ReplyKind = iota
	Result
)

// Reply is what an op returns.
type Reply struct {
	Kind ReplyKind
	Ok   AttributedType
	Err  ErrorType // Result only
}

// ErrorKind is the kind of a Result's error.
type ErrorKind uint8

// The error kinds.
const (
	CLike ErrorKind = iota
	Complex
	ServerDeath
)

// ErrorType is CLike("T"), Complex("T") or ServerDeath.
type ErrorType struct {
	Kind ErrorKind
	Type string // empty for ServerDeath
}

// Encoding is an op's wire encoding.
type Encoding uint8

// The encodings.
const (
	Zerocopy Encoding = iota
	Ssmarshal
	Hubpack
)

// String returns the encoding's name as written in a file.
func (e Encoding) String() string {
	switch e {
	case Zerocopy:
		return "Zerocopy"
	case Ssmarshal:
		return "Ssmarshal"
	case Hubpack:
		return "Hubpack"
	}
	return "Encoding(?)"
}
