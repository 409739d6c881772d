package switched

import (
	"encoding/binary"
	"fmt"

	"spacenet/apid/frame"
	"spacenet/apid/sysmsg"
	"spacenet/ipc"
	"spacenet/ipc/ipcframe"
)

// The receiving direction: what the holder of the reader role (role.go)
// does with each frame it read. It never writes: the answers it makes
// itself go to the outbox (send.go), since the switch does not read a
// tenant that leaves its ERRORs unread (flow control), and a reader
// blocked in a write would stop the node for good.

// handle handles one frame the reader role's holder read.
func (n *Node) handle(f *frame.Frame) {
	switch {
	case f.Type() == frame.Error && f.APID() == frame.APIDSwitch:
		n.switchError(f)
		return
	case f.Type() == frame.Health && f.APID() == sysmsg.APIDEvents:
		n.eventFrame(f)
		return
	}
	p := f.Payload()
	if !ipcframe.IsIPC(p) {
		n.stats.notIPC.Add(1)
		if n.cfg.Other != nil {
			n.cfg.Other(f)
		}
		return
	}
	n.reassemblyMu.Lock()
	res := n.reassembler.Add(f, n.now())
	n.reassemblyMu.Unlock()
	switch res.Key.Kind {
	case ipcframe.Request:
		n.request(&res)
	case ipcframe.Reply, ipcframe.Busy:
		n.reply(&res)
	case ipcframe.Post:
		n.post(&res)
	case ipcframe.PostRefused:
		if res.Status == ipcframe.Complete && res.Key.Dest == n.cfg.APID {
			n.stats.postsWentAway.Add(1)
		}
	}
}

// post delivers a post to the server on its destination: its bits join the
// server's pending mask (Server.Run delivers them between calls). A post
// to no server is answered post refused and counted.
func (n *Node) post(res *ipcframe.Result) {
	if res.Status != ipcframe.Complete {
		return // refused by reassembly: counted there
	}
	k := res.Key
	s := n.server(k.Dest)
	if s == nil || !s.post(ipcframe.PostBits(res.Data), n.now) {
		n.stats.postsUnserved.Add(1)
		n.scratch, _ = ipcframe.Append(n.scratch[:0], ipcframe.PostRefused, k.Dest, k.Src, k.ID, nil)
		n.sendScratch(k)
	}
}

// request handles a request frame's outcome: answers refusals that the
// caller must hear about, checks the server and the access rights on the
// first segment, queues complete calls.
func (n *Node) request(res *ipcframe.Result) {
	k := res.Key
	first := res.Header.Offset == 0
	switch res.Status {
	case ipcframe.Refused:
		switch res.Reason {
		case ipcframe.TooLarge:
			if first {
				n.answerFault(k, ipc.BadMessageSize)
			}
		case ipcframe.SenderLimit, ipcframe.SenderBufferLimit, ipcframe.PartialLimit, ipcframe.BufferLimit:
			n.answerBusy(k)
		}
		return
	case ipcframe.Partial:
		return
	}
	s := n.server(k.Dest)
	if s == nil || s.stopped.Load() {
		n.drop(k, res.Status)
		n.answerFault(k, ipc.WentAway)
		return
	}
	caller := n.callerOf(k.Src)
	if len(res.Data) >= 2 {
		op := binary.LittleEndian.Uint16(res.Data)
		if !s.access.Allowed(op, caller) {
			s.stats.denied.Add(1)
			n.drop(k, res.Status)
			n.answerFault(k, ipc.AccessViolation)
			return
		}
	}
	if res.Status == ipcframe.Complete {
		s.enqueue(caller, k, res.Data, len(res.Data) > ipcframe.MaxData)
	}
}

func (n *Node) drop(k ipcframe.Key, st ipcframe.Status) {
	if st == ipcframe.Started {
		n.reassemblyMu.Lock()
		n.reassembler.Drop(k)
		n.reassemblyMu.Unlock()
	}
}

// answerFault answers call k with a fault, through the outbox (the reader
// never writes).
func (n *Node) answerFault(k ipcframe.Key, f ipc.Fault) {
	if int(f) < len(n.stats.answered) {
		n.stats.answered[f].Add(1)
	}
	n.callStats.answered(faultOutcome(f))
	var b [8]byte
	msg := ipc.AppendFault(b[:0], f)
	n.scratch, _ = ipcframe.Append(n.scratch[:0], ipcframe.Reply, k.Dest, k.Src, k.ID, msg)
	n.sendScratch(k)
}

func (n *Node) answerBusy(k ipcframe.Key) {
	n.callStats.answered(OutcomeBusy)
	n.scratch, _ = ipcframe.Append(n.scratch[:0], ipcframe.Busy, k.Dest, k.Src, k.ID, nil)
	n.sendScratch(k)
}

// sendScratch hands the answer in n.scratch, to k's sender, to the outbox.
func (n *Node) sendScratch(k ipcframe.Key) {
	n.postAnswer(n.kept.newReply(n.scratch, k.Src, k.ID))
}

// reply delivers a reply (or busy answer) to the call waiting for it.
func (n *Node) reply(res *ipcframe.Result) {
	k := res.Key
	var err error
	switch res.Status {
	case ipcframe.Started, ipcframe.Partial:
		return
	case ipcframe.Refused:
		switch res.Reason {
		case ipcframe.TooLarge, ipcframe.SenderLimit, ipcframe.SenderBufferLimit, ipcframe.PartialLimit, ipcframe.BufferLimit:
			err = fmt.Errorf("switched: reply for call %d refused: %w", k.ID, res.Reason)
		default:
			return
		}
	}
	if k.Dest != n.cfg.APID {
		n.stats.stray.Add(1)
		return
	}
	n.mu.Lock()
	p := n.calls[k.ID]
	if p == nil || p.dest != k.Src {
		n.mu.Unlock()
		n.stats.stray.Add(1)
		return
	}
	delete(n.calls, k.ID)
	n.mu.Unlock()
	n.stats.replies.Add(1)
	if n.reader.holder == waiter(p) {
		n.stats.selfRead.Add(1) // the caller reads its own reply: no hand-off
	}
	if err == nil && k.Kind == ipcframe.Busy {
		err = ErrServerBusy
	}
	if err == nil {
		if len(res.Data) > ipcframe.MaxData {
			p.reply = res.Data // reassembled: the reassembler gave it away
		} else {
			p.replyBuf = append(p.replyBuf[:0], res.Data...) // res.Data aliases the read buffer
			p.reply = p.replyBuf
		}
	}
	p.finish(err)
}

// switchError handles an ERROR frame from the switch about one of this
// node's frames. The ERROR echoes the refused frame's first payload bytes
// (spec apid-plane.md section 2): for an IPC frame, its sub-header, so the
// ERROR names the message it refuses. A request's names the call (its id,
// which this node chose: unique among its calls in flight), which fails at
// once; a reply's is looked up among the replies kept (send.go); a post's
// is counted.
func (n *Node) switchError(f *frame.Frame) {
	n.stats.errorsIn.Add(1)
	ep, err := frame.ParseErrorPayload(f.Payload())
	if err != nil {
		n.stats.refusedUnmatched.Add(1)
		return
	}
	src := frame.APID(ep.OffendingAPID)
	h, why := ipcframe.ParseEcho(frame.Type(ep.OffendingType), ep.Echo[:])
	switch {
	case why != ipcframe.OK || !n.ownsAPID(src):
		n.stats.refusedUnmatched.Add(1) // not IPC, the 8-byte form, or not ours
	case h.Kind == ipcframe.Request:
		n.callRefused(ep.Code, src, h)
	case h.Kind == ipcframe.Post:
		n.stats.postsRefused[ep.Code&0xF].Add(1)
	default: // a reply, busy or post refused answer
		n.stats.repliesRefused.Add(1)
		n.replyRefused(ep.Code, src, h)
	}
}

// callRefused fails the call a refused request frame belongs to. A call
// several of whose frames are refused fails at its first ERROR; the later
// ones (offset past 0) find it gone and are absorbed. An ERROR about the
// first frame of a call no longer in flight (its context ended first)
// counts as unmatched.
func (n *Node) callRefused(code frame.ErrorCode, src frame.APID, h ipcframe.Header) {
	n.mu.Lock()
	p := n.calls[h.ID]
	if p != nil && src == n.cfg.APID {
		delete(n.calls, h.ID)
	} else {
		p = nil
	}
	n.mu.Unlock()
	if p == nil {
		if h.Offset == 0 {
			n.stats.refusedUnmatched.Add(1)
		}
		return
	}
	p.refused = code
	p.finish(refusalError(code))
}

// refusalError is what a caller sees of its request refused with code.
func refusalError(code frame.ErrorCode) error {
	switch code {
	case frame.NotPermitted:
		return ipc.AccessViolation
	case frame.NoRoute:
		return ipc.WentAway
	}
	return &SwitchError{Code: code}
}

// eventFrame handles a HEALTH frame from APIDEvents: the acknowledgement
// of the subscription (first byte sysmsg.SubscribeAckKind) or an event
// (first byte its EventKind).
func (n *Node) eventFrame(f *frame.Frame) {
	p := f.Payload()
	if sysmsg.PayloadKind(p) == sysmsg.SubscribeAckKind {
		n.subscribed(p)
		return
	}
	e, err := sysmsg.ParseEventNotice(p)
	if err != nil {
		n.log.Warn("bad event", "err", err)
		return
	}
	n.stats.events.Add(1)
	ti, ok := n.pol.Index(e.Tenant)
	if !ok {
		return
	}
	n.log.Debug("tenant event", "kind", e.Kind, "of", e.Tenant, "generation", e.Generation)
	dead, fresh := n.tenantChanged(ti, e)
	if !fresh {
		n.stats.staleEvents.Add(1)
		return
	}
	for _, p := range dead {
		p.finish(ipc.ServerDeath)
	}
	if e.Kind != sysmsg.Connected && ti != n.self {
		n.reassemblyMu.Lock()
		n.reassembler.DropPeer(func(a frame.APID) bool { return n.tenantOf(a) == ti })
		n.reassemblyMu.Unlock()
	}
	for _, s := range *n.servers.Load() {
		s.notify(Notification{Kind: TenantEvent, Event: e, At: n.now()})
	}
}

// subscribed takes the tenants' state from the subscription's
// acknowledgement (payload p) and marks the node ready.
func (n *Node) subscribed(p []byte) {
	a, err := sysmsg.ParseSubscribeAck(p)
	if err != nil {
		n.log.Warn("bad event acknowledgement", "err", err)
		return
	}
	n.mu.Lock()
	for _, t := range a.Tenants {
		if t.FirstAPID.Valid() {
			if i := n.owner[t.FirstAPID]; i >= 0 && t.Generation >= n.tenants[i].gen {
				n.tenants[i] = tenantState{gen: t.Generation, connected: t.Connected}
			}
		}
	}
	n.mu.Unlock()
	select {
	case <-n.ready:
	default:
		close(n.ready)
	}
}

// tenantChanged records event e of tenant ti and takes out the calls it
// ends: those bound to the generation that went away, or to another than
// the one that connected. fresh is false for a late event, which changes
// nothing.
func (n *Node) tenantChanged(ti int, e sysmsg.EventNotice) (dead []*pending, fresh bool) {
	gen := e.Generation
	n.mu.Lock()
	defer n.mu.Unlock()
	// Generations only grow. An event older than what the node knows, or
	// a connection of the generation it already knows (connected, or gone
	// since), arrived late: the switch announces a connection from its
	// accept goroutine, which can run after the connection's traffic (and
	// even its end) reached us. Acting on it would kill calls bound to a
	// newer generation.
	ts := n.tenants[ti]
	if gen < ts.gen || (gen == ts.gen && (e.Kind != sysmsg.Disconnected || !ts.connected)) {
		return nil, false
	}
	n.tenants[ti] = tenantState{gen: gen, connected: e.Kind != sysmsg.Disconnected}
	for id, p := range n.calls {
		if p.tenant != ti {
			continue
		}
		if (e.Kind == sysmsg.Disconnected && gen == p.bound) || (e.Kind != sysmsg.Disconnected && gen != p.bound) {
			delete(n.calls, id)
			dead = append(dead, p)
		}
	}
	return dead, true
}
