package stackbench

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"spacenet/internal/netnsdo"
)

// readiness is what waitLinks waits for on a link.
type readiness int

const (
	// operUp: the kernel reports the link operationally up (or, for a
	// device that reports no operational state, as TAPs, up with its
	// carrier on). "ip link set up" returns before the kernel's linkwatch
	// work has activated the queueing discipline of a device whose
	// carrier came on (a veth whose peer was already up); until then
	// frames sent on it are dropped. The state is announced after it.
	operUp readiness = iota
	// forwarding: the link is a bridge port in the forwarding state. A
	// veth's bridge port is enabled only when linkwatch has seen its
	// carrier come on, after "ip link set up" of its peer has returned.
	forwarding
)

func (r readiness) String() string { return [...]string{"operationally up", "forwarding"}[r] }

// Kernel values (linux/if.h, linux/if_bridge.h).
const (
	ifOperUnknown     = 0
	ifOperUp          = 6
	brStateForwarding = 3
)

// waitLinks waits until every link of want, by name, in network namespace
// ns is as want says, or ctx is done. It subscribes to the namespace's
// link notifications before listing the links, so that no change is
// missed between the two: no polling, no sleeps.
func waitLinks(ctx context.Context, ns string, want map[string]readiness) error {
	var s *nl.NetlinkSocket
	if err := netnsdo.Do(ns, func() (err error) {
		s, err = nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_LINK)
		return err
	}); err != nil {
		return fmt.Errorf("netlink in namespace %s: %w", ns, err)
	}
	defer s.Close()
	defer context.AfterFunc(ctx, s.Close)() // ends a blocked Receive
	// One listing at a time (a second on the socket while the first is
	// under way is refused): the links, then the bridge ports.
	families := []int{unix.AF_UNSPEC, unix.AF_BRIDGE}
	list := func() error {
		req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(families[0]))
		families = families[1:]
		if err := s.Send(req); err != nil {
			return fmt.Errorf("netlink in namespace %s: list links: %w", ns, err)
		}
		return nil
	}
	if err := list(); err != nil {
		return err
	}
	pending := maps.Clone(want)
	for len(pending) > 0 {
		msgs, _, err := s.Receive()
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return fmt.Errorf("namespace %s: links %s not ready: %w", ns, describe(pending), err)
		}
		for _, m := range msgs {
			if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
				if errno := int32(nl.NativeEndian().Uint32(m.Data)); errno != 0 {
					return fmt.Errorf("netlink in namespace %s: list links: %w", ns, syscall.Errno(-errno))
				}
			}
			if m.Header.Type == unix.NLMSG_DONE && len(families) > 0 {
				if err := list(); err != nil {
					return err
				}
			}
			if m.Header.Type != unix.RTM_NEWLINK {
				continue
			}
			name, r, ok := linkState(m.Data)
			if w, waited := pending[name]; ok && waited && w == r {
				delete(pending, name)
			}
		}
	}
	return nil
}

// linkState reads an RTM_NEWLINK message: the link's name, and which
// readiness it shows (ok false if none): forwarding for a bridge port's
// message (family AF_BRIDGE) in that state, operUp for a link's message
// (AF_UNSPEC) with the link up.
func linkState(data []byte) (name string, r readiness, ok bool) {
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
		return name, forwarding, port == brStateForwarding
	}
	carrier := info.Flags&unix.IFF_UP != 0 && info.Flags&unix.IFF_LOWER_UP != 0
	return name, operUp, oper == ifOperUp || (oper == ifOperUnknown && carrier)
}

// describe names the pending links and what each waits for, sorted.
func describe(pending map[string]readiness) string {
	var s []string
	for _, name := range slices.Sorted(maps.Keys(pending)) {
		s = append(s, fmt.Sprintf("%s (%v)", name, pending[name]))
	}
	return strings.Join(s, ", ")
}
