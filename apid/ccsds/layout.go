package ccsds

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"spacenet/apid/frame"
)

// Layout is how a ground link lays frames out as Space Packets. The zero
// value is Plain.
type Layout uint8

// The layouts (docs/ground.md shows each byte by byte).
const (
	// Plain: a frame from APID A goes to the ground as a TM packet with
	// APID A, no secondary header and the frame's payload as its data
	// field; a TC packet with APID B from the ground is a TC frame to B
	// whose payload is the data field and whose source is the ground's
	// APID. What ground software that reads bare Space Packets expects.
	Plain Layout = iota
	// CFS: as Plain, with the secondary headers cFE puts on its packets:
	// TM carries the 6-octet time (seconds u32, subseconds u16) and 4 spare
	// octets; a TC carries a function code and an XOR checksum, which is
	// checked, and the frame's payload is the function code followed by the
	// command's data.
	CFS
	// Spacenet: the frame's 8-octet header followed by its payload (Wrap,
	// Unwrap), for links between two spacenet switches.
	Spacenet
	numLayouts
)

// String returns "plain", "cfs", "spacenet" or "Layout(n)".
func (l Layout) String() string {
	switch l {
	case Plain:
		return "plain"
	case CFS:
		return "cfs"
	case Spacenet:
		return "spacenet"
	}
	return fmt.Sprintf("Layout(%d)", uint8(l))
}

// ParseLayout parses a layout's name as String writes it.
func ParseLayout(s string) (Layout, error) {
	for l := Layout(0); l < numLayouts; l++ {
		if s == l.String() {
			return l, nil
		}
	}
	return 0, fmt.Errorf("ccsds: layout %q: want plain, cfs or spacenet", s)
}

// The cFE secondary headers (cFE's default message module, "v1" headers),
// as offsets from the start of the packet.
const (
	CFSTimeSecondsOff    = HeaderSize      // TM: seconds, u32 big-endian
	CFSTimeSubsecondsOff = HeaderSize + 4  // TM: the upper 16 bits of cFE's 32-bit subseconds, u16 big-endian
	CFSTMSpareOff        = HeaderSize + 6  // TM: 4 spare octets (cFE pads the header to 16 octets), zero
	CFSTMHeaderSize      = HeaderSize + 10 // TM: where the user data starts
	CFSFunctionCodeOff   = HeaderSize      // TC: function code in the low 7 bits; the top bit is reserved
	CFSChecksumOff       = HeaderSize + 1  // TC: XOR checksum
	CFSTCHeaderSize      = HeaderSize + 2  // TC: where the command's data starts
	CFSFunctionCodeMask  = 0x7F
)

// CFSEpoch is the epoch of the time in cFS telemetry: cFE's default
// mission epoch, 1980-001 00:00:00 (leap seconds are not counted).
var CFSEpoch = time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)

// CFSTime is a cFE telemetry time as the secondary header carries it.
type CFSTime struct {
	Seconds    uint32 // since CFSEpoch
	Subseconds uint16 // units of 2^-16 s
}

// CFSTimeOf converts t; a time before CFSEpoch is the epoch itself.
func CFSTimeOf(t time.Time) CFSTime {
	s := t.Unix() - CFSEpoch.Unix()
	if s < 0 {
		return CFSTime{}
	}
	return CFSTime{Seconds: uint32(s), Subseconds: uint16(uint64(t.Nanosecond()) << 16 / 1e9)}
}

// CFSChecksum is the checksum octet cFE puts into a command packet pkt:
// 0xFF XOR every octet of pkt but the checksum's own. A command is valid
// when 0xFF XOR all its octets is 0 (CFSChecksumOK). pkt must be at least
// CFSTCHeaderSize octets.
func CFSChecksum(pkt []byte) byte {
	return xorAll(pkt) ^ pkt[CFSChecksumOff]
}

// CFSChecksumOK reports whether the command packet pkt's checksum is right.
func CFSChecksumOK(pkt []byte) bool { return xorAll(pkt) == 0 }

func xorAll(b []byte) byte {
	x := byte(0xFF)
	for _, c := range b {
		x ^= c
	}
	return x
}

// More errors of the layouts.
var (
	ErrChecksum = errors.New("ccsds: cFS command checksum wrong")
	ErrTooLarge = errors.New("ccsds: data field larger than a frame's payload")
)

// MaxLayoutPacketSize is the largest packet of any layout: CFS telemetry
// with a full payload.
const MaxLayoutPacketSize = CFSTMHeaderSize + frame.MaxPayload

// MinDataField is the fewest octets a packet's data field holds (CCSDS
// 133.0-B-2: data length is the count minus one). Plain puts one zero
// octet in the data field of a frame with no payload.
const MinDataField = 1

// DownLen is the size of the packet l makes of f on its way to the ground.
func (l Layout) DownLen(f *frame.Frame) int {
	n := len(f.Payload())
	switch l {
	case Spacenet:
		return WrappedLen(f)
	case CFS:
		return CFSTMHeaderSize + n
	}
	return HeaderSize + max(n, MinDataField)
}

// WrapDown writes f, routed to the ground, into dst as the packet of layout
// l with sequence count seq (and, for CFS, time t) and returns its length.
// Plain and CFS make a TM packet of every frame, with the frame's source
// APID as APID and its payload as user data; the frame's type and
// destination are not sent. Spacenet is Wrap. The refusals are Wrap's
// (ErrFrame, ErrIdleAPID, ErrSeqCount, ErrBuffer; dst unchanged); no
// allocation on success.
func (l Layout) WrapDown(dst []byte, f *frame.Frame, seq uint16, t CFSTime) (int, error) {
	if l == Spacenet {
		return Wrap(dst, f, seq)
	}
	if err := checkWrap(f, seq); err != nil {
		return 0, err
	}
	n := l.DownLen(f)
	if len(dst) < n {
		return 0, fmt.Errorf("ccsds: wrap: buffer of %d octets, %v packet needs %d: %w", len(dst), l, n, ErrBuffer)
	}
	h := Header{Type: TM, APID: f.APID(), SeqFlags: Unsegmented, SeqCount: seq, DataLen: uint16(n - HeaderSize - 1)}
	data := HeaderSize
	if l == CFS {
		h.SecondaryHeader = true
		binary.BigEndian.PutUint32(dst[CFSTimeSecondsOff:], t.Seconds)
		binary.BigEndian.PutUint16(dst[CFSTimeSubsecondsOff:], t.Subseconds)
		clear(dst[CFSTMSpareOff:CFSTMHeaderSize])
		data = CFSTMHeaderSize
	}
	h.put(dst)
	if data == n-MinDataField {
		dst[data] = 0 // Plain's one octet for an empty payload
	}
	copy(dst[data:n], f.Payload())
	return n, nil
}

// UnwrapDown is the inverse of WrapDown for the frame's fields that travel:
// it writes into f a frame of type TM (TC for a Spacenet TC) from the
// packet's APID with the packet's user data as payload, destination 0x000.
// It is how the switch learns which frame a packet refused by the ground
// carried. Plain cannot tell an empty payload from one zero octet.
func (l Layout) UnwrapDown(f *frame.Frame, pkt []byte) (Header, error) {
	if l == Spacenet {
		return Unwrap(f, pkt)
	}
	h, data, err := l.check(pkt, TM)
	if err != nil {
		return h, err
	}
	if l == CFS {
		if len(data) < CFSTMHeaderSize-HeaderSize {
			return h, fmt.Errorf("ccsds: cfs telemetry data field of %d octets, its secondary header needs %d: %w", len(data), CFSTMHeaderSize-HeaderSize, ErrDataField)
		}
		data = data[CFSTMHeaderSize-HeaderSize:]
	}
	if len(data) > frame.MaxPayload {
		return h, fmt.Errorf("ccsds: %d octets of user data, a frame carries %d: %w", len(data), frame.MaxPayload, ErrTooLarge)
	}
	encode(f, frame.TM, h.APID, 0, data)
	return h, nil
}

// UnwrapUp checks that pkt is one command from the ground in layout l and
// writes its frame into f: type TC, source APID ground, destination the
// packet's APID, payload the packet's data field (CFS: the function code,
// then the command's data after the secondary header). Spacenet is Unwrap
// (the source is the inner frame's, checked by the switch, and ground is
// not used).
//
// The checks, in order, each a distinct error: a header (ErrShort);
// version 0 (ErrVersion); the data length matches len(pkt) (ErrLength);
// not idle (ErrIdle, bare); type TC (ErrType); unsegmented (ErrSeqFlags);
// Plain: no secondary header; CFS: a secondary header (ErrSecondaryHeader),
// at least its 2 octets (ErrDataField) and a right checksum (ErrChecksum);
// a payload of at most frame.MaxPayload octets (ErrTooLarge). On error f
// is unchanged. No allocation on success or for ErrIdle.
func (l Layout) UnwrapUp(f *frame.Frame, pkt []byte, ground frame.APID) (Header, error) {
	if l == Spacenet {
		return Unwrap(f, pkt)
	}
	h, data, err := l.check(pkt, TC)
	if err != nil {
		return h, err
	}
	var fc byte
	if l == CFS {
		if len(data) < CFSTCHeaderSize-HeaderSize {
			return h, fmt.Errorf("ccsds: cfs command data field of %d octets, its secondary header needs %d: %w", len(data), CFSTCHeaderSize-HeaderSize, ErrDataField)
		}
		if !CFSChecksumOK(pkt) {
			return h, fmt.Errorf("ccsds: cfs command checksum 0x%02X, want 0x%02X: %w", pkt[CFSChecksumOff], CFSChecksum(pkt), ErrChecksum)
		}
		fc = pkt[CFSFunctionCodeOff] & CFSFunctionCodeMask
		data = data[CFSTCHeaderSize-HeaderSize:]
		if len(data) >= frame.MaxPayload {
			return h, fmt.Errorf("ccsds: cfs command of %d data octets, a frame carries %d after the function code: %w", len(data), frame.MaxPayload-1, ErrTooLarge)
		}
		encode(f, frame.TC, ground, h.APID, data)
		copy(f[frame.HeaderSize+1:], data)
		f[frame.HeaderSize] = fc
		f.SetPayloadLen(uint16(len(data) + 1))
		return h, nil
	}
	if len(data) > frame.MaxPayload {
		return h, fmt.Errorf("ccsds: command of %d data octets, a frame carries %d: %w", len(data), frame.MaxPayload, ErrTooLarge)
	}
	encode(f, frame.TC, ground, h.APID, data)
	return h, nil
}

// WrapUp writes f as the command packet of layout l that the ground would
// send for it, with sequence count seq, and returns its length: what
// UnwrapUp reads back into f (with the ground's APID as source). Plain: a
// TC packet with APID f's destination and f's payload as data; CFS: the
// same with cFE's command secondary header, the function code taken from
// the payload's first octet (f must carry one), the checksum computed;
// Spacenet: Wrap. It is for tools and tests that play the ground; the
// switch does not send commands.
func (l Layout) WrapUp(dst []byte, f *frame.Frame, seq uint16) (int, error) {
	if l == Spacenet {
		return Wrap(dst, f, seq)
	}
	p := f.Payload()
	head := HeaderSize
	if l == CFS {
		if len(p) == 0 {
			return 0, fmt.Errorf("ccsds: cfs command to %v: no payload octet for the function code: %w", f.Dest(), ErrDataField)
		}
		head = CFSTCHeaderSize - 1 // the function code is the payload's first octet
	}
	n := head + max(len(p), MinDataField)
	switch {
	case seq > SeqCountMask:
		return 0, fmt.Errorf("ccsds: wrap: sequence count %d: %w", seq, ErrSeqCount)
	case f.Dest() > frame.MaxAPID || f.Dest() == frame.APIDIdle:
		return 0, fmt.Errorf("ccsds: wrap: command to APID %v: %w", f.Dest(), ErrField)
	case len(dst) < n:
		return 0, fmt.Errorf("ccsds: wrap: buffer of %d octets, %v command needs %d: %w", len(dst), l, n, ErrBuffer)
	}
	Header{Type: TC, SecondaryHeader: l == CFS, APID: f.Dest(), SeqFlags: Unsegmented, SeqCount: seq, DataLen: uint16(n - HeaderSize - 1)}.put(dst)
	dst[head] = 0
	copy(dst[head:n], p)
	if l == CFS {
		dst[CFSFunctionCodeOff], dst[CFSChecksumOff] = p[0], 0
		dst[CFSChecksumOff] = CFSChecksum(dst[:n])
	}
	return n, nil
}

// check checks pkt's primary header for layout l (Plain or CFS) and a
// packet of type want, and returns it with the data field.
func (l Layout) check(pkt []byte, want PacketType) (Header, []byte, error) {
	h, err := ParseHeader(pkt)
	switch {
	case err != nil:
		return h, nil, err
	case h.Version != 0:
		return h, nil, fmt.Errorf("ccsds: packet version %d, want 0: %w", h.Version, ErrVersion)
	case h.PacketLen() != len(pkt):
		return h, nil, fmt.Errorf("ccsds: data length %d announces a %d-octet packet, got %d octets: %w", h.DataLen, h.PacketLen(), len(pkt), ErrLength)
	case h.APID == frame.APIDIdle:
		return h, nil, ErrIdle
	case h.Type != want:
		return h, nil, fmt.Errorf("ccsds: packet type %v, want %v: %w", h.Type, want, ErrType)
	case h.SeqFlags != Unsegmented:
		return h, nil, fmt.Errorf("ccsds: sequence flags %v, want Unsegmented: %w", h.SeqFlags, ErrSeqFlags)
	case h.SecondaryHeader != (l == CFS):
		return h, nil, fmt.Errorf("ccsds: secondary header flag %v, the %v layout wants %v: %w", h.SecondaryHeader, l, l == CFS, ErrSecondaryHeader)
	}
	return h, pkt[HeaderSize:], nil
}

// encode writes a frame whose fields are known to be valid into f, the
// padding zeroed.
func encode(f *frame.Frame, t frame.Type, src, dest frame.APID, payload []byte) {
	f.SetVersion(frame.Version)
	f.SetType(t)
	f.SetAPID(src)
	f.SetDest(dest)
	f.SetPayloadLen(uint16(len(payload)))
	n := copy(f[frame.HeaderSize:], payload)
	clear(f[frame.HeaderSize+n:])
}
