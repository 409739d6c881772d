// Package lan is spacenet's virtual LAN: a learning software switch that
// network stacks in this process, TAP devices, AF_PACKET sockets and QEMU
// guests on unix sockets plug into, each through a port backed by a
// nic.NIC.
//
// A Switch learns which port each source MAC lives behind (entries age out,
// 300 s by default, and the table has a size bound), floods broadcast,
// multicast and unknown unicast (or floods everything, in flood-only mode,
// like mirage-vnetif), and copies every frame into the destination port's
// bounded queue: a slow port drops and counts instead of stalling the
// others. Ports have an MTU (oversized frames are dropped and counted, never
// truncated), may be locked to a MAC and to source IPs (ARP, NDP, IPv4 and
// IPv6 source checks), and belong to tenants whose reachability is policy
// (Reach, the same tenant names as the APID plane's policy). Against hostile
// tenants, ports are sticky by default (the first source MAC a port sends is
// locked to it), ports without sticky MAC have a MAC limit, locked addresses
// never age or move and do not count against the table's bound, and each
// port's broadcast, multicast and unknown-unicast floods are rate-limited
// (storm control). A port whose queue is full drops (the default) or holds
// its senders for a bounded time (WhenFullWait); a detached port may flush
// its queue first. Every frame a
// port receives is forwarded or counted under one reason; every frame it
// should send is sent or counted under one reason (PortStats). A Monitor
// sees every frame in both directions; PcapWriter is one that writes pcap.
//
// Ports backed by a NIC have a reader goroutine (batches from NIC.Recv,
// preallocated buffers) and a writer goroutine (batches from the port's
// queue to NIC.Send). Ports made by AttachPipe are in-process: the NIC it
// returns forwards in the caller's goroutine on Send and drains the port's
// queue on Recv, so a netstack in this process talks to the LAN with one
// copy each way and no goroutine in between. Ports made by AttachRef pass
// frames by reference (nic.Ref, e.g. a netstack's packet buffer): between
// two of them a frame is never copied, only its headers are read for the
// checks; to ports of other kinds it is copied once. Each kind of port is
// an egress type, and forwarding takes one frame descriptor (plain, with a
// virtio-net header, or by reference). The forwarding path allocates
// nothing per frame. Headers are read through package wire's views only.
// Package lan imports no network stack.
//
// Package lan does not route (no IP forwarding between subnets), does not
// speak STP or VLANs (tagged frames are switched on their outer header) and
// does not answer any protocol itself. Fault injection for any NIC lives in
// package ip/lan/fault.
package lan
