// Package linkwait waits, on netlink, until network links are ready to
// carry frames: operationally up, or forwarding as bridge ports.
//
// "ip link set up" returns before the kernel's linkwatch work has
// activated the queueing discipline of a device whose carrier came on (a
// veth whose peer was already up, for instance); until then frames sent
// on it are dropped (noop qdisc, counted as TX dropped). The kernel
// announces the new operational state only after that activation, and a
// veth's bridge port is enabled (and, without spanning tree or with a
// forward delay of 0, forwarding) only once linkwatch has seen its carrier
// come on. Wait subscribes to the namespace's link notifications before
// listing its links, so that no change between the two is missed: no
// polling, no sleeps.
package linkwait

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"spacenet/internal/netnsdo"
)

// State is what Wait waits for on a link.
type State int

const (
	// Up: the kernel reports the link operationally up or, for a device
	// that reports no operational state (TAP and loopback devices), up
	// with its carrier on (IFF_UP and IFF_LOWER_UP).
	Up State = iota
	// Forwarding: the link is a bridge port in the forwarding state.
	Forwarding
)

func (s State) String() string {
	switch s {
	case Up:
		return "operationally up"
	case Forwarding:
		return "forwarding"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// AllUp returns a want for Wait: every named link Up.
func AllUp(names ...string) map[string]State {
	want := make(map[string]State, len(names))
	for _, n := range names {
		want[n] = Up
	}
	return want
}

// Kernel values (linux/if.h, linux/if_bridge.h).
const (
	ifOperUnknown     = 0
	ifOperUp          = 6
	brStateForwarding = 3
)

// testHookListed, if set, is called once the links have been listed (a
// test's way to change a link that only the subscription can then see).
var testHookListed func()

// Timeout is how long WaitWithin callers usually give a new link: the
// kernel brings one up in milliseconds; seconds mean it never will.
const Timeout = 10 * time.Second

// WaitWithin is Wait bounded by d.
func WaitWithin(d time.Duration, ns string, want map[string]State) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return Wait(ctx, ns, want)
}

// Wait waits until every link of want, by name, in network namespace ns
// ("" for the caller's) is in the state want gives it, or ctx is done. A
// link that is ready when Wait is called counts. Its errors name the
// namespace and the links not ready, with what each waited for.
func Wait(ctx context.Context, ns string, want map[string]State) error {
	place := where(ns)
	var s *nl.NetlinkSocket
	if err := netnsdo.Do(ns, func() (err error) {
		s, err = nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_LINK)
		return err
	}); err != nil {
		return fmt.Errorf("netlink in %s: %w", place, err)
	}
	defer s.Close()
	defer context.AfterFunc(ctx, s.Close)() // ends a blocked Receive
	// One listing at a time (a second on the socket while the first is
	// under way is refused): the links, then the bridge ports.
	families := []uint8{unix.AF_UNSPEC, unix.AF_BRIDGE}
	pending := maps.Clone(want)
	// notReady is the error once ctx is done (and the socket closed).
	notReady := func() error {
		return fmt.Errorf("%s: links %s not ready: %w", place, describe(pending), ctx.Err())
	}
	list := func() error {
		req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(int(families[0])))
		families = families[1:]
		if err := s.Send(req); err != nil {
			if ctx.Err() != nil {
				return notReady()
			}
			return fmt.Errorf("netlink in %s: list links: %w", place, err)
		}
		return nil
	}
	if err := list(); err != nil {
		return err
	}
	for len(pending) > 0 {
		msgs, _, err := s.Receive()
		if err != nil {
			if ctx.Err() != nil {
				return notReady()
			}
			return fmt.Errorf("%s: links %s not ready: %w", place, describe(pending), err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(nl.NativeEndian().Uint32(m.Data)); errno != 0 {
						return fmt.Errorf("netlink in %s: list links: %w", place, syscall.Errno(-errno))
					}
				}
			case unix.NLMSG_DONE:
				if len(families) > 0 {
					if err := list(); err != nil {
						return err
					}
				} else if testHookListed != nil {
					testHookListed()
				}
			case unix.RTM_NEWLINK:
				name, state, ok := linkState(m.Data)
				if w, waited := pending[name]; ok && waited && w == state {
					delete(pending, name)
				}
			}
		}
	}
	return nil
}

// where names network namespace ns in an error: "namespace NAME", or
// "the caller's namespace" for "".
func where(ns string) string {
	if ns == "" {
		return "the caller's namespace"
	}
	return "namespace " + ns
}

// linkState reads an RTM_NEWLINK message: the link's name, and which
// state it shows (ok false if none): Forwarding for a bridge port's
// message (family AF_BRIDGE) in that state, Up for a link's message
// (AF_UNSPEC) with the link up.
func linkState(data []byte) (name string, state State, ok bool) {
	if len(data) < unix.SizeofIfInfomsg {
		return "", 0, false
	}
	info := nl.DeserializeIfInfomsg(data)
	attrs, err := nl.ParseRouteAttr(data[unix.SizeofIfInfomsg:])
	if err != nil {
		return "", 0, false
	}
	oper, port := -1, -1
	for _, a := range attrs {
		switch a.Attr.Type &^ unix.NLA_F_NESTED {
		case unix.IFLA_IFNAME:
			name = strings.TrimRight(string(a.Value), "\x00")
		case unix.IFLA_OPERSTATE:
			if len(a.Value) > 0 {
				oper = int(a.Value[0])
			}
		case unix.IFLA_PROTINFO:
			nested, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				continue
			}
			for _, b := range nested {
				if b.Attr.Type&^unix.NLA_F_NESTED == nl.IFLA_BRPORT_STATE && len(b.Value) > 0 {
					port = int(b.Value[0])
				}
			}
		}
	}
	if info.Family == unix.AF_BRIDGE {
		return name, Forwarding, port == brStateForwarding
	}
	carrier := info.Flags&unix.IFF_UP != 0 && info.Flags&unix.IFF_LOWER_UP != 0
	return name, Up, oper == ifOperUp || (oper == ifOperUnknown && carrier)
}

// describe names the pending links and what each waits for, sorted.
func describe(pending map[string]State) string {
	var s []string
	for _, name := range slices.Sorted(maps.Keys(pending)) {
		s = append(s, fmt.Sprintf("%s (%v)", name, pending[name]))
	}
	return strings.Join(s, ", ")
}
