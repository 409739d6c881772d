package ipc

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The byte layout of requests and replies, for transports that carry them
// as bytes (all integers little-endian):
//
//	request: op u16 | reply_cap u32 | args_len u16 | args
//	         | n_leases u8 | n_leases x (flags u8 (1 read, 2 write) | len u32 | read ? len bytes : nothing)
//	reply:   kind u8 = 0 | rc u32 | body_len u32 | body
//	         | n u8 | n x (len u32, 0xFFFFFFFF for none | bytes)
//	fault:   kind u8 = 1 | fault u32
//
// A write-only lease travels as its length alone; the receiving side gives
// the server a zeroed buffer of that length.

// MaxLeaseBytes bounds one lease (and a reply body) on the wire, so that a
// hostile length cannot make the receiver allocate without bound.
const MaxLeaseBytes = 1 << 20

// MaxLeases is how many leases a request may carry.
const MaxLeases = 255

// ErrMalformed is wrapped by every error ParseRequest and ParseReply return.
var ErrMalformed = errors.New("ipc: malformed message")

func malformed(what string, v uint64) error {
	return fmt.Errorf("%w: %s (%d)", ErrMalformed, what, v)
}

const noneLen = 0xFFFFFFFF

// AppendRequest appends req's wire form to b.
func AppendRequest(b []byte, req *Request) ([]byte, error) {
	if len(req.Args) > 0xFFFF {
		return b, malformed("args too long", uint64(len(req.Args)))
	}
	if len(req.Leases) > MaxLeases {
		return b, malformed("too many leases", uint64(len(req.Leases)))
	}
	b = binary.LittleEndian.AppendUint16(b, req.Op)
	b = binary.LittleEndian.AppendUint32(b, req.ReplyCap)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(req.Args)))
	b = append(b, req.Args...)
	b = append(b, byte(len(req.Leases)))
	for _, l := range req.Leases {
		if len(l.Data) > MaxLeaseBytes {
			return b, malformed("lease too long", uint64(len(l.Data)))
		}
		var flags byte
		if l.Read {
			flags |= 1
		}
		if l.Write {
			flags |= 2
		}
		b = append(b, flags)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(l.Data)))
		if l.Read {
			b = append(b, l.Data...)
		}
	}
	return b, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = malformed(what+" truncated", uint64(n))
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8(what string) uint8 {
	if p := r.take(1, what); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16(what string) uint16 {
	if p := r.take(2, what); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if p := r.take(4, what); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

// ParseRequest decodes a request. Args and read-lease contents are copies;
// write-only leases get zeroed buffers of their length.
func ParseRequest(b []byte) (*Request, error) {
	req := new(Request)
	if err := ParseRequestInto(b, req); err != nil {
		return nil, err
	}
	return req, nil
}

// ParseRequestInto decodes a request into req like ParseRequest, reusing
// the storage of req.Args, req.Leases and each lease's Data: decoding into
// the same Request again allocates only when a message needs more room
// than any before. Whatever req held before is overwritten (on error, req's
// contents are unspecified), so the previous call's request must no longer
// be in use.
func ParseRequestInto(b []byte, req *Request) error {
	r := reader{b: b}
	req.Op, req.ReplyCap = r.u16("op"), r.u32("reply_cap")
	n := int(r.u16("args_len"))
	req.Args = append(req.Args[:0], r.take(n, "args")...)
	nl := int(r.u8("n_leases"))
	if r.err != nil {
		return r.err
	}
	if nl > cap(req.Leases) {
		req.Leases = append(req.Leases[:cap(req.Leases)], make([]Lease, nl-cap(req.Leases))...)
	}
	req.Leases = req.Leases[:nl]
	for i := 0; i < nl; i++ {
		flags := r.u8("lease flags")
		ln := r.u32("lease len")
		if r.err != nil {
			return r.err
		}
		if flags&^3 != 0 || flags == 0 {
			return malformed("lease flags", uint64(flags))
		}
		if ln > MaxLeaseBytes {
			return malformed("lease too long", uint64(ln))
		}
		l := &req.Leases[i]
		l.Read, l.Write = flags&1 != 0, flags&2 != 0
		switch {
		case l.Read:
			p := r.take(int(ln), "lease")
			if r.err != nil {
				return r.err
			}
			l.Data = append(l.Data[:0], p...)
		case l.Data == nil || cap(l.Data) < int(ln):
			l.Data = make([]byte, ln)
		default:
			l.Data = l.Data[:ln]
			clear(l.Data)
		}
	}
	if len(r.b) != 0 {
		return malformed("trailing bytes", uint64(len(r.b)))
	}
	return nil
}

// AppendReply appends rep's wire form to b.
func AppendReply(b []byte, rep *Reply) ([]byte, error) {
	if len(rep.Body) > MaxLeaseBytes {
		return b, malformed("body too long", uint64(len(rep.Body)))
	}
	if len(rep.Written) > MaxLeases {
		return b, malformed("too many leases", uint64(len(rep.Written)))
	}
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, rep.RC)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(rep.Body)))
	b = append(b, rep.Body...)
	b = append(b, byte(len(rep.Written)))
	for _, w := range rep.Written {
		if w == nil {
			b = binary.LittleEndian.AppendUint32(b, noneLen)
			continue
		}
		if len(w) > MaxLeaseBytes {
			return b, malformed("lease too long", uint64(len(w)))
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(w)))
		b = append(b, w...)
	}
	return b, nil
}

// AppendFault appends the wire form of a fault answer to b.
func AppendFault(b []byte, f Fault) []byte {
	b = append(b, 1)
	return binary.LittleEndian.AppendUint32(b, uint32(f))
}

// ParseReply decodes a reply into rep (copying), or returns the Fault a
// fault answer carries. Anything else wrong is ErrMalformed.
func ParseReply(b []byte, rep *Reply) error { return parseReply(b, rep, false) }

// ParseReplyOwned is ParseReply for a b that the caller gives away: rep's
// Written slices refer into b instead of copies of it, which saves a copy
// of every write lease (up to MaxLeaseBytes each). The body is still
// copied into rep.Body's storage.
func ParseReplyOwned(b []byte, rep *Reply) error { return parseReply(b, rep, true) }

func parseReply(b []byte, rep *Reply, owned bool) error {
	r := reader{b: b}
	switch kind := r.u8("kind"); {
	case r.err != nil:
		return r.err
	case kind == 1:
		f := Fault(r.u32("fault"))
		if r.err != nil {
			return r.err
		}
		if !f.Known() || len(r.b) != 0 {
			return malformed("fault", uint64(f))
		}
		return f
	case kind != 0:
		return malformed("reply kind", uint64(kind))
	}
	rc := r.u32("rc")
	n := r.u32("body_len")
	if n > MaxLeaseBytes {
		return malformed("body too long", uint64(n))
	}
	body := r.take(int(n), "body")
	nw := int(r.u8("n_written"))
	if r.err != nil {
		return r.err
	}
	rep.RC = rc
	rep.Body = append(rep.Body[:0], body...)
	rep.Written = rep.Written[:0]
	for i := 0; i < nw; i++ {
		ln := r.u32("written len")
		if r.err != nil {
			return r.err
		}
		if ln == noneLen {
			rep.Written = append(rep.Written, nil)
			continue
		}
		if ln > MaxLeaseBytes {
			return malformed("lease too long", uint64(ln))
		}
		p := r.take(int(ln), "written")
		if r.err != nil {
			return r.err
		}
		if owned {
			p = p[:len(p):len(p)] // an append must not run into the next lease
		} else {
			p = append([]byte{}, p...)
		}
		rep.Written = append(rep.Written, p)
	}
	if len(r.b) != 0 {
		return malformed("trailing bytes", uint64(len(r.b)))
	}
	return nil
}
