package nic

import "sync/atomic"

// Stats counts what a NIC moved and what it refused. Every frame that
// arrives is either delivered (RxFrames) or counted under one Rx drop
// reason; every frame handed to Send is either sent (TxFrames) or counted
// under one Tx drop reason.
type Stats struct {
	RxFrames uint64 // frames delivered by Recv
	RxBytes  uint64 // bytes of those frames
	TxFrames uint64 // frames accepted by Send
	TxBytes  uint64 // bytes of those frames

	RxTooBig  uint64 // arrived frames longer than the caller's buffer
	RxFraming uint64 // framing errors: bad length prefix, short or malformed virtio-net header
	RxBadCsum uint64 // checksum offload requests out of the frame's bounds or misaligned (dropped)
	RxGSO     uint64 // GSO super-frames dropped: not segmentable here (AF_PACKET, TAP without GSO, unsupported type)
	RxKernel  uint64 // frames the kernel dropped before we read them (AF_PACKET: socket buffer full)
	TxTooBig  uint64 // frames refused by Send: longer than MTU+HeaderLen
	TxErrors  uint64 // frames refused by the device or lost with a peer
	TxNoPeer  uint64 // frames dropped because no peer was there (QEMU sockets)
}

// counters is the live, atomically updated form of Stats.
type counters struct {
	rxFrames, rxBytes, txFrames, txBytes  atomic.Uint64
	rxTooBig, rxFraming, rxBadCsum, rxGSO atomic.Uint64
	rxKernel                              atomic.Uint64
	txTooBig, txErrors, txNoPeer          atomic.Uint64
}

func (c *counters) rx(n int) {
	c.rxFrames.Add(1)
	c.rxBytes.Add(uint64(n))
}

func (c *counters) tx(n int) {
	c.txFrames.Add(1)
	c.txBytes.Add(uint64(n))
}

func (c *counters) snapshot() Stats {
	return Stats{
		RxFrames:  c.rxFrames.Load(),
		RxBytes:   c.rxBytes.Load(),
		TxFrames:  c.txFrames.Load(),
		TxBytes:   c.txBytes.Load(),
		RxTooBig:  c.rxTooBig.Load(),
		RxFraming: c.rxFraming.Load(),
		RxBadCsum: c.rxBadCsum.Load(),
		RxGSO:     c.rxGSO.Load(),
		RxKernel:  c.rxKernel.Load(),
		TxTooBig:  c.txTooBig.Load(),
		TxErrors:  c.txErrors.Load(),
		TxNoPeer:  c.txNoPeer.Load(),
	}
}
