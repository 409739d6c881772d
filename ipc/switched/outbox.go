package switched

import "sync"

// The outbox.
//
// What the goroutine reading the socket has to write, answers to calls it
// refuses itself (faults, BUSY) and probes, is written by the outbox
// goroutine, never by the reader: the switch does not read a tenant that
// leaves its ERRORs unread (flow control, docs/apid-switch.md), so a reader
// blocked in a write while the socket is full would stop the node for good.
// The outbox holds at most maxOutbox answers; one more is dropped and
// counted (Stats.RepliesDropped), as a refused reply is.

// maxOutbox bounds the answers waiting in the outbox.
const maxOutbox = 256

type outbox struct {
	mu      sync.Mutex
	answers []*sentReply // in the order the reader made them
	probe   bool         // a probe is owed
	kick    chan struct{}
}

// postAnswer hands r, a reply the reader made, to the outbox goroutine.
func (n *Node) postAnswer(r *sentReply) {
	o := &n.out
	o.mu.Lock()
	if len(o.answers) >= maxOutbox {
		o.mu.Unlock()
		n.st.repliesDropped.Add(1)
		n.log.Debug("answer dropped: outbox full", "dest", r.dest, "id", r.id)
		n.tr.mu.Lock()
		n.tr.put(r)
		n.tr.mu.Unlock()
		return
	}
	o.answers = append(o.answers, r)
	o.mu.Unlock()
	o.wake()
}

// postProbe asks the outbox goroutine to send a probe (when the node is
// congested and none is out, as sendProbe decides).
func (n *Node) postProbe() {
	o := &n.out
	o.mu.Lock()
	o.probe = true
	o.mu.Unlock()
	o.wake()
}

func (o *outbox) wake() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// outLoop writes what the reader posted until the connection ends.
func (n *Node) outLoop() {
	defer n.tr.wg.Done()
	o := &n.out
	var batch []*sentReply
	for {
		select {
		case <-o.kick:
		case <-n.done:
			return
		}
		o.mu.Lock()
		batch = append(batch[:0], o.answers...)
		clear(o.answers)
		o.answers = o.answers[:0]
		probe := o.probe
		o.probe = false
		o.mu.Unlock()
		for i, r := range batch {
			if err := n.writeReply(r); err != nil {
				n.log.Debug("answer not sent", "err", err)
			}
			batch[i] = nil
		}
		if probe {
			n.sendProbe()
		}
	}
}
