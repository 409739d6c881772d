package stack

import (
	"net/netip"

	"spacenet/ip/wire"
)

// Neighbour entry states.
const (
	free uint8 = iota
	incomplete
	reachable
	failed
)

// neighbour is one entry of the cache, with the frames held for it.
type neighbour struct {
	addr     netip.Addr
	mac      wire.MAC
	state    uint8
	updated  int64 // when it was resolved
	nextTry  int64 // next solicitation while incomplete
	tries    int
	held     [][]byte
	heldLen  []int
	headHeld int
	nheld    int
}

// neighbours is a fixed-size neighbour cache (ARP and NDP).
type neighbours struct {
	entries []neighbour
}

func (n *neighbours) init(size, hold, frame int) {
	n.entries = make([]neighbour, size)
	if hold == 0 {
		return
	}
	mem := frames(size*hold, frame)
	lens := make([]int, size*hold)
	for i := range n.entries {
		n.entries[i].held = mem[i*hold : (i+1)*hold]
		n.entries[i].heldLen = lens[i*hold : (i+1)*hold]
	}
}

func (n *neighbours) find(addr netip.Addr) *neighbour {
	for i := range n.entries {
		if e := &n.entries[i]; e.state != free && e.addr == addr {
			return e
		}
	}
	return nil
}

// lookup returns addr's MAC if it is resolved. An entry older than
// ReachableTime is still used, and resolved again: reask then says to
// solicit (once per ResolveRetry).
func (n *neighbours) lookup(addr netip.Addr, now int64) (mac wire.MAC, ok, reask bool) {
	e := n.find(addr)
	if e == nil || e.state != reachable {
		return wire.MAC{}, false, false
	}
	if now-e.updated > int64(ReachableTime) && e.nextTry <= now {
		e.nextTry = now + int64(ResolveRetry)
		return e.mac, true, true
	}
	return e.mac, true, false
}

// evict returns an entry to reuse: a free one, else a failed one, else
// the one resolved longest ago.
func (n *neighbours) evict() *neighbour {
	var best *neighbour
	for i := range n.entries {
		e := &n.entries[i]
		switch {
		case e.state == free:
			return e
		case best == nil, e.state == failed && best.state != failed,
			e.state == best.state && e.updated < best.updated:
			best = e
		}
	}
	best.state, best.nheld, best.headHeld = free, 0, 0
	return best
}

// hold keeps a copy of frame for addr while it is resolved. ask reports
// that a solicitation is due now; dropped that a frame was lost (no hold,
// the hold full, or the neighbour unreachable).
func (n *neighbours) hold(addr netip.Addr, frame []byte, now int64) (ask, dropped bool) {
	e := n.find(addr)
	if e == nil || e.state == failed {
		if e == nil {
			e = n.evict()
		}
		e.addr, e.state, e.tries, e.nextTry = addr, incomplete, 1, now+int64(ResolveRetry)
		e.nheld, e.headHeld = 0, 0
		ask = true
	}
	if len(e.held) == 0 {
		return ask, true
	}
	if e.nheld == len(e.held) {
		e.headHeld = (e.headHeld + 1) % len(e.held)
		e.nheld--
		dropped = true
	}
	i := (e.headHeld + e.nheld) % len(e.held)
	e.heldLen[i] = copy(e.held[i], frame)
	e.nheld++
	return ask, dropped
}

// update records addr's MAC; see Stack.learned.
func (n *neighbours) update(addr netip.Addr, mac wire.MAC, create bool, now int64) *neighbour {
	e := n.find(addr)
	if e == nil {
		if !create {
			return nil
		}
		e = n.evict()
		e.addr = addr
	}
	e.mac, e.state, e.updated, e.tries, e.nextTry = mac, reachable, now, 0, 0
	return e
}
