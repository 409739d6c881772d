// Package ipcframe carries Idol IPC messages in APID frames: the 14-byte
// IPC sub-header at the start of a frame's payload, the segmentation of a
// message (a marshalled ipc.Request or ipc.Reply, up to MaxMessage bytes)
// into frames, and the bounded reassembly of incoming frames back into
// messages.
//
// Requests travel as TC frames and replies as TM frames: no new frame type
// is needed. Every IPC frame's payload starts with the sub-header
// (big-endian, like the frame header):
//
//	0  u8   magic 0xD1
//	1  u8   version (high nibble, 1) | kind (low nibble: 1 request, 2 reply, 3 busy,
//	        4 post, 5 post refused)
//	2  u32  call id, chosen by the caller, echoed by the reply
//	6  u32  total length of the message in bytes
//	10 u32  offset of this segment's data in the message
//	14      data: payload_length - 14 bytes (at most 234)
//
// A post (kind 4, a TC frame) is a notification from one tenant to a
// server of another, as Hubris's sys_post: its data is a 32-bit mask
// (big-endian), total 4, offset 0, one frame; it is not answered, unless
// it cannot be delivered (no server on the destination APID): then the
// receiver answers kind 5, post refused (a TM frame, no data), echoing its
// id. The switch checks a post like any frame (source APID, policy).
//
// Segments of one message are sent in order (the switch keeps the order of
// one connection's frames), so reassembly only accepts the next offset; a
// message of at most 234 bytes is one frame and is never buffered.
//
// This package does not interpret messages (package ipc marshals them) and
// does not touch sockets (package switched does).
package ipcframe

import (
	"encoding/binary"
	"fmt"
	"slices"

	"spacenet/apid/frame"
)

// Sub-header constants.
const (
	Magic      = 0xD1 // first payload byte of every IPC frame
	Version    = 1    // the sub-header version, high nibble of byte 1
	HeaderSize = 14   // bytes of sub-header at the start of the payload
	// MaxData is the most message bytes one frame carries: 248 - 14.
	MaxData = frame.MaxPayload - HeaderSize
)

// Kind says what a frame's message is.
type Kind uint8

// The kinds. A request travels in TC frames; a reply and a busy answer in
// TM frames.
const (
	Request Kind = 1 // a call: a marshalled ipc.Request
	Reply   Kind = 2 // the answer: a marshalled ipc.Reply or fault
	Busy    Kind = 3 // the server refused the call for lack of room; no data
	// Post is a notification: its data is a 32-bit mask (PostSize bytes,
	// big-endian), never segmented. It travels in a TC frame.
	Post Kind = 4
	// PostRefused answers a post that could not be delivered (no server
	// on its destination); no data.
	PostRefused Kind = 5
)

// PostSize is the data of a post: its 32-bit mask.
const PostSize = 4

// PostPayloadLen is the payload length of a post's frame. A request is at
// least 9 bytes of message (package ipc's layout), so a refused frame of
// this length from a node's APID is a post, not a call.
const PostPayloadLen = HeaderSize + PostSize

// AppendPost appends the frame of a post of bits from src to dest, with id
// (echoed if it is refused), to fs.
func AppendPost(fs []frame.Frame, src, dest frame.APID, id uint32, bits uint32) ([]frame.Frame, error) {
	var b [PostSize]byte
	binary.BigEndian.PutUint32(b[:], bits)
	return Append(fs, Post, src, dest, id, b[:])
}

// PostBits is the mask of a post's data (ParseHeader checked its length).
func PostBits(data []byte) uint32 { return binary.BigEndian.Uint32(data) }

// String returns "request", "reply", "busy" or "Kind(n)".
func (k Kind) String() string {
	switch k {
	case Request:
		return "request"
	case Reply:
		return "reply"
	case Busy:
		return "busy"
	case Post:
		return "post"
	case PostRefused:
		return "post_refused"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// FrameType returns the frame type a kind travels in: TC for requests and
// posts, TM otherwise.
func (k Kind) FrameType() frame.Type {
	if k == Request || k == Post {
		return frame.TC
	}
	return frame.TM
}

// Header is a decoded IPC sub-header.
type Header struct {
	Kind   Kind
	ID     uint32 // call id
	Total  uint32 // message length
	Offset uint32 // this segment's offset in the message
}

// Put writes h into b, which must hold HeaderSize bytes.
func (h Header) Put(b []byte) {
	_ = b[HeaderSize-1]
	b[0] = Magic
	b[1] = Version<<4 | byte(h.Kind)&0x0F
	binary.BigEndian.PutUint32(b[2:], h.ID)
	binary.BigEndian.PutUint32(b[6:], h.Total)
	binary.BigEndian.PutUint32(b[10:], h.Offset)
}

// IsIPC reports whether a payload starts with the IPC magic byte: frames
// without it are not IPC and are left to other users of the connection.
func IsIPC(payload []byte) bool { return len(payload) > 0 && payload[0] == Magic }

// Reason says why a frame was refused. Every refusal is counted by reason.
type Reason uint8

// The reasons a frame or message is refused.
const (
	OK                Reason = iota
	NotIPC                   // no magic byte: not an IPC frame
	BadHeader                // payload shorter than the sub-header, wrong version or unknown kind
	WrongType                // a request not in a TC frame, or a reply not in a TM frame
	BadSegment               // data empty (for a non-empty message) or past the total
	TooLarge                 // total above the configured maximum message size
	OutOfOrder               // a segment whose offset is not the next expected one
	Orphan                   // a continuation segment of no message being reassembled
	SenderLimit              // the sender already has the most partial messages allowed
	PartialLimit             // the partial messages overall would leave another sender less than its share
	BufferLimit              // the bytes held overall would leave another sender less than its share
	Expired                  // a partial message idle for longer than the timeout
	Dropped                  // a partial message dropped by the caller (Drop)
	SenderBufferLimit        // buffering this message would pass the sender's byte budget
	numReasons
)

var reasonNames = [numReasons]string{"ok", "not_ipc", "bad_header", "wrong_type", "bad_segment",
	"too_large", "out_of_order", "orphan", "sender_limit", "partial_limit", "buffer_limit", "expired", "dropped",
	"sender_buffer_limit"}

// NumReasons is the number of reasons, OK included.
const NumReasons = int(numReasons)

// String returns the reason's counter name, "too_large".
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Error implements error, so a Reason can be returned and matched with
// errors.Is.
func (r Reason) Error() string { return "ipcframe: " + r.String() }

// ParseHeader decodes the sub-header of an IPC frame's payload and checks
// what can be checked on one frame: magic, version, kind, frame type,
// segment bounds. It never allocates.
func ParseHeader(t frame.Type, payload []byte) (Header, Reason) {
	h, why := ParseEcho(t, payload)
	if why != OK {
		return h, why
	}
	n := uint64(len(payload) - HeaderSize)
	if (n == 0 && h.Total != 0) || uint64(h.Offset)+n > uint64(h.Total) {
		return h, BadSegment
	}
	switch {
	case (h.Kind == Busy || h.Kind == PostRefused) && h.Total != 0:
		return h, BadSegment
	case h.Kind == Post && (h.Total != PostSize || n != PostSize):
		return h, BadSegment
	}
	return h, OK
}

// ParseEcho decodes the sub-header of a frame the switch refused, from the
// echo of its first payload bytes that the ERROR carries
// (frame.ErrorPayload.Echo, spec apid-plane.md section 2); t is the ERROR's
// offending type. It checks magic, version, kind and frame type; the
// segment's data is not in the echo, so its bounds are not checked. A
// frame that was not IPC, or an ERROR of the 8-byte form (its echo all
// zero), gives NotIPC. It never allocates. ParseHeader checks a whole
// payload's fields with it.
func ParseEcho(t frame.Type, payload []byte) (Header, Reason) {
	if !IsIPC(payload) {
		return Header{}, NotIPC
	}
	if len(payload) < HeaderSize || payload[1]>>4 != Version {
		return Header{}, BadHeader
	}
	h := Header{
		Kind:   Kind(payload[1] & 0x0F),
		ID:     binary.BigEndian.Uint32(payload[2:]),
		Total:  binary.BigEndian.Uint32(payload[6:]),
		Offset: binary.BigEndian.Uint32(payload[10:]),
	}
	if h.Kind < Request || h.Kind > PostRefused {
		return h, BadHeader
	}
	if t != h.Kind.FrameType() {
		return h, WrongType
	}
	return h, OK
}

// Segments returns how many frames a message of n bytes takes (one for an
// empty message).
func Segments(n int) int {
	if n <= MaxData {
		return 1
	}
	return (n + MaxData - 1) / MaxData
}

// Append appends the frames of msg to fs: kind k (in its frame type), from
// src to dest, call id id. It never allocates when fs has the capacity.
func Append(fs []frame.Frame, k Kind, src, dest frame.APID, id uint32, msg []byte) ([]frame.Frame, error) {
	if uint64(len(msg)) > 0xFFFFFFFF {
		return fs, fmt.Errorf("ipcframe: message of %d bytes: %w", len(msg), TooLarge)
	}
	if !src.Valid() || !dest.Valid() {
		return fs, fmt.Errorf("ipcframe: APID %v -> %v: %w", src, dest, frame.Malformed)
	}
	total := uint32(len(msg))
	start := len(fs)
	fs = slices.Grow(fs, Segments(len(msg)))[:start+Segments(len(msg))]
	off := 0
	for i := start; i < len(fs); i++ {
		n := min(len(msg)-off, MaxData)
		f := &fs[i]
		f.SetVersion(frame.Version)
		f.SetType(k.FrameType())
		f.SetAPID(src)
		f.SetDest(dest)
		f.SetPayloadLen(uint16(HeaderSize + n))
		Header{Kind: k, ID: id, Total: total, Offset: uint32(off)}.Put(f[frame.HeaderSize:])
		end := frame.HeaderSize + HeaderSize + copy(f[frame.HeaderSize+HeaderSize:], msg[off:off+n])
		clear(f[end:]) // padding: only the last frame has any
		off += n
	}
	return fs, nil
}
