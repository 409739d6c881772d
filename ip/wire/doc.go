// Package wire reads and writes the headers of the IP plane's packets:
// Ethernet II with 802.1Q tags, ARP, IPv4 (options, fragments), IPv6 with its
// extension-header chain, UDP, TCP (with options), ICMPv4 and ICMPv6 (echo,
// errors, NDP), and the Internet checksum.
//
// Each header is a view over a []byte (type IPv4 []byte) with accessors and
// setters, in the style of gVisor's tcpip/header; builders (Encode methods)
// write into the caller's buffer. Parse functions check every length before
// reading and return a *FieldError naming the layer and field of truncated or
// inconsistent input; nothing in this package panics on any input, and no
// parse or build path allocates. (Accessors, like gVisor's, assume a view
// that a Parse function or Decode returned, or a buffer long enough for the
// header being built.) Decode parses a whole frame in one call into
// a Packet of views, returning a pointer to the Packet's own FieldError on
// failure, so even a flood of bad frames costs no garbage.
//
// Field offsets are named constants under the RFC diagram of each header.
// The Peek functions (PeekARP, PeekIPv4, PeekIPv6, PeekTCP, PeekUDP,
// PeekNDP, and Untag for VLAN tags) check only a header's fixed part, for
// readers that hold only the start of a packet: the LAN switch's port
// security (package lan) and GSO segmentation (package nic) use them, so
// this is the IP plane's only header and checksum code.
//
// Package wire does not verify checksums while decoding (the Verify helpers
// do, on request), does not reassemble fragments, and holds no state: see
// package endpoint for a stack that answers packets.
package wire
