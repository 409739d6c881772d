package apidswitch

import (
	"spacenet/apid/frame"
)

// Frame sync on byte streams that lose bytes.
//
// A frame has no sync marker: the reader takes every 256 bytes of a
// tenant's stream as one frame. A 16550 serial line (QEMU's chardev behind
// it) can lose bytes, and after that every "frame" the reader cuts
// straddles two real ones and fails to decode, for good. For a tenant whose
// policy sets resync (policy.Flow.Resync), the reader takes a run of
// resyncRun consecutive frames that fail to decode as the sign of a
// misaligned stream: the first resyncRun-1 are refused and answered as
// usual; from the start of the last one it looks, byte by byte, for the
// next valid header with a source APID the tenant owns, and reads frames
// from there. The bytes it passes over are counted (Counters.SkippedBytes,
// Counters.Resyncs), not answered: they are not frames. The outcome does not
// depend on how the bytes arrive (one read or many), so a test can predict
// it exactly.
//
// The aligned path pays nothing for this: the run is counted only where a
// frame is refused, and consume checks one flag per batch.

// resyncRun is how many consecutive frames must fail to decode before the
// stream is taken as misaligned. 2: a single bad frame from a guest on an
// aligned stream is refused and answered exactly as without resync.
const resyncRun = 2

// frameSync is a reader's state for Flow.Resync.
type frameSync struct {
	run     int    // consecutive frames that failed to decode
	lastBad uint64 // the sender's received count at the last of them
	cut     bool   // process stopped at the frame at cutAt of its batch: hunt from there
	cutAt   int
	hunting bool // looking for a header: the stream is misaligned
	// tapped is how many bytes at the start of the next batch process
	// gets were already recorded by taps (the batch a cut ended ran on
	// past them): they are not recorded again.
	tapped int
}

// undecodable reports whether a frame refused with code has a header no
// guest would write on an aligned stream: what the bytes of a misaligned
// one look like. Refusals of well-formed frames (Not_permitted, No_route,
// Host_busy, ...) are not.
func undecodable(code frame.ErrorCode) bool {
	switch code {
	case frame.UnknownVersion, frame.UnknownType, frame.MessageTooLarge, frame.Malformed, frame.APIDNotAllocated:
		return true
	}
	return false
}

// misaligned is called by process, with the sender's lock held, for the
// frame at offset off of its batch, which the route refused with code;
// seq is the sender's received count with that frame. It reports whether
// the frame ends a run of resyncRun frames that failed to decode on a stream
// that may lose bytes: the frame is then not refused, process stops before
// it, and consume hunts for a header from its first byte.
func (r *reader) misaligned(code frame.ErrorCode, seq uint64, off int) bool {
	if r.idx < 0 || !r.st.flow[r.idx].Resync || !undecodable(code) {
		return false
	}
	fs := &r.sync
	if fs.run > 0 && seq == fs.lastBad+1 {
		fs.run++
	} else {
		fs.run = 1
	}
	fs.lastBad = seq
	if fs.run < resyncRun {
		return false
	}
	fs.run = 0
	fs.cut, fs.cutAt = true, off
	r.c.t.st.resyncs++
	return true
}

// consume routes the whole frames in buf[:total], the bytes read so far
// and not yet routed, and moves what is left (a partial frame, or the
// bytes a hunt could not yet rule out) to the start of buf, returning its
// length.
func (r *reader) consume(buf []byte, total int) int {
	start := 0
	tappedTo := 0 // buf[:tappedTo] went to the taps with an earlier batch
	for {
		if r.sync.hunting {
			p, found := r.hunt(buf[start:total])
			if !found {
				// A header may start in the last HeaderSize-1 bytes.
				keep := min(total-start, frame.HeaderSize-1)
				r.skip(total - start - keep)
				return copy(buf, buf[total-keep:total])
			}
			r.skip(p)
			r.sync.hunting = false
			start += p
		}
		whole := start + (total-start)/frame.Size*frame.Size
		if whole > start {
			r.sync.tapped = max(0, tappedTo-start)
			r.process(buf[start:whole])
			tappedTo = whole
		}
		if !r.sync.cut {
			return copy(buf, buf[whole:total])
		}
		start += r.sync.cutAt
		r.sync.cut, r.sync.hunting = false, true
	}
}

// endOfStream ends a hunt at the end of the stream: the rem bytes left
// are skipped, not refused as a partial frame. It reports whether it did.
func (r *reader) endOfStream(rem int) bool {
	if !r.sync.hunting {
		return false
	}
	r.skip(rem)
	r.sync.hunting = false
	return true
}

// hunt returns the offset in b of the first header that is valid and has
// a source APID the sender owns, or false if b has none (b's last
// HeaderSize-1 bytes cannot hold a whole header).
func (r *reader) hunt(b []byte) (int, bool) {
	r.refresh()
	if r.idx < 0 {
		return 0, false
	}
	for p := 0; p+frame.HeaderSize <= len(b); p++ {
		if b[p] == frame.Version && r.owned(b[p:p+frame.HeaderSize]) {
			return p, true
		}
	}
	return 0, false
}

// owned reports whether h, a frame header's bytes, is valid and from an
// APID the sender owns.
func (r *reader) owned(h []byte) bool {
	var f frame.Frame
	copy(f[:frame.HeaderSize], h)
	hd := f.Header()
	if hd.Check() != 0 {
		return false
	}
	i, ok := r.st.table.Owner(hd.APID)
	return ok && i == r.idx
}

// skip counts n bytes passed over by a hunt.
func (r *reader) skip(n int) {
	if n == 0 {
		return
	}
	ss := &r.c.t.st
	ss.mu.Lock()
	ss.skipped += uint64(n)
	total := ss.skipped
	ss.mu.Unlock()
	s := r.c.sw
	if k, ok := s.logLimit.Allow(r.c.t.name, logResync); ok {
		s.log.Warn("misaligned stream: bytes skipped to the next header the tenant owns", "tenant", r.c.t.name, "skipped", n, "skipped_total", total, "suppressed", k)
	}
}
