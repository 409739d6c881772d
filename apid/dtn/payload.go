package dtn

import (
	"encoding/binary"
	"errors"
	"fmt"

	"spacenet/apid/frame"
)

// The payload of a bundle between two switches: a batch of frames, in the
// order the sending switch routed them, with the stream position that lets
// the receiver put bundles back in order (DTN does not keep order: after an
// outage dtnd forwards what it stored in whatever order it finds it).
//
//	0   u8   format, PayloadFormat (1)
//	1   u8   reserved, 0
//	2   u16  frame count, 1..MaxBatch
//	4   u64  stream: chosen at random when the sending link starts
//	12  u64  position of this bundle in the stream, from 0
//	20  the frames, back to back, each its 8-byte header and then its
//	    payload_length bytes (the zero padding is not sent)
//
// All integers big-endian. A receiver delivers a stream's bundles in
// position order; a new stream value starts again at position 0.
const (
	PayloadFormat = 1
	batchHeader   = 20
	// MaxBatch bounds the frames in one bundle.
	MaxBatch = 256
)

// Batch is a decoded payload's header.
type Batch struct {
	Count    int
	Stream   uint64
	Position uint64
}

var errBatch = errors.New("dtn: batch")

// AppendBatch appends the batch header for n frames (filled in by
// FinishBatch) to out; append each frame with AppendFrame.
func AppendBatch(out []byte, stream, position uint64) []byte {
	out = append(out, PayloadFormat, 0, 0, 0)
	out = binary.BigEndian.AppendUint64(out, stream)
	return binary.BigEndian.AppendUint64(out, position)
}

// AppendFrame appends f (header and meaningful payload) to a batch and
// counts it in the header at batch[0:].
func AppendFrame(batch []byte, f *frame.Frame) []byte {
	n := binary.BigEndian.Uint16(batch[2:])
	binary.BigEndian.PutUint16(batch[2:], n+1)
	return append(batch, f[:frame.HeaderSize+len(f.Payload())]...)
}

// DecodeBatch checks payload p and calls fn with each frame in it, padding
// zeroed, in order. It checks the whole payload first: a malformed batch
// delivers nothing. fn's frame is valid only during the call.
func DecodeBatch(p []byte, fn func(f *frame.Frame)) (Batch, error) {
	b, err := checkBatch(p)
	if err != nil || fn == nil {
		return b, err
	}
	var f frame.Frame
	for off := batchHeader; off < len(p); {
		n := frame.HeaderSize + int(binary.BigEndian.Uint16(p[off+4:]))
		copy(f[:], p[off:off+n])
		clear(f[n:])
		fn(&f)
		off += n
	}
	return b, nil
}

func checkBatch(p []byte) (Batch, error) {
	var b Batch
	if len(p) < batchHeader {
		return b, fmt.Errorf("%w: %d bytes, shorter than its header", errBatch, len(p))
	}
	if p[0] != PayloadFormat {
		return b, fmt.Errorf("%w: format %d, want %d", errBatch, p[0], PayloadFormat)
	}
	b.Count = int(binary.BigEndian.Uint16(p[2:]))
	b.Stream = binary.BigEndian.Uint64(p[4:])
	b.Position = binary.BigEndian.Uint64(p[12:])
	if b.Count == 0 || b.Count > MaxBatch {
		return b, fmt.Errorf("%w: %d frames, want 1 to %d", errBatch, b.Count, MaxBatch)
	}
	off := batchHeader
	for i := range b.Count {
		if len(p)-off < frame.HeaderSize {
			return b, fmt.Errorf("%w: frame %d cut short", errBatch, i)
		}
		pl := int(binary.BigEndian.Uint16(p[off+4:]))
		if pl > frame.MaxPayload {
			return b, fmt.Errorf("%w: frame %d: payload_length %d > %d", errBatch, i, pl, frame.MaxPayload)
		}
		off += frame.HeaderSize + pl
		if off > len(p) {
			return b, fmt.Errorf("%w: frame %d cut short", errBatch, i)
		}
	}
	if off != len(p) {
		return b, fmt.Errorf("%w: %d bytes after the last frame", errBatch, len(p)-off)
	}
	return b, nil
}
