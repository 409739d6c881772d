package lan

// Reason is why the switch dropped a frame.
type Reason uint8

// Drop reasons. Ingress reasons are counted on the port the frame came in
// on (PortStats.RxDrops), egress reasons on the port it was to leave by
// (PortStats.TxDrops).
const (
	// Ingress.
	ReasonRunt       Reason = iota // shorter than an Ethernet header
	ReasonMTU                      // longer than the port's MTU + 14 (in or out)
	ReasonBadSrc                   // source MAC is a group address
	ReasonSpoofedMAC               // source or ARP/NDP sender MAC is not the port's locked MAC
	ReasonSpoofedIP                // source IP, ARP sender or NDP target not among the port's IPs
	ReasonIsolated                 // destination is in a tenant this port's tenant may not reach
	ReasonLocal                    // destination lives behind the port the frame came from
	ReasonNoPort                   // flooded, but there is no other port
	// Egress.
	ReasonQueueFull // the destination port's queue was full
	ReasonTxError   // the NIC refused the frame
	ReasonDown      // the port was detached or its NIC failed
	// ReasonBadGSO (ingress, or egress when the frame must be cut for a
	// port without pass-through): a frame with a virtio-net header whose
	// GSO super-frame cannot be segmented or whose checksum request lies
	// outside the frame.
	ReasonBadGSO
	// ReasonStormBroadcast, ReasonStormMulticast, ReasonStormUnknown
	// (ingress): the port's storm control bucket for broadcast, multicast
	// or unknown unicast frames was empty (PortConfig.Storm).
	ReasonStormBroadcast
	ReasonStormMulticast
	ReasonStormUnknown
	// ReasonMACLimit (ingress): a new source MAC on a port that has
	// learnt its MAC limit already (PortConfig.MACLimit); not learnt.
	ReasonMACLimit
	// ReasonMACTaken (ingress): the source MAC is locked to another port
	// (a locked or sticky address); not learnt.
	ReasonMACTaken
	// ReasonHoldExpired (egress): the port waits when full
	// (PortConfig.WhenFull) and its queue stayed full for the hold time,
	// or was already stalled by an earlier expiry and not read since.
	ReasonHoldExpired
	// NumReasons is the number of reasons.
	NumReasons
)

var reasonNames = [NumReasons]string{
	ReasonRunt:       "runt",
	ReasonMTU:        "mtu",
	ReasonBadSrc:     "bad_src",
	ReasonSpoofedMAC: "spoofed_mac",
	ReasonSpoofedIP:  "spoofed_ip",
	ReasonIsolated:   "isolated",
	ReasonLocal:      "local",
	ReasonNoPort:     "no_port",
	ReasonQueueFull:  "queue_full",
	ReasonTxError:    "tx_error",
	ReasonDown:       "down",
	ReasonBadGSO:     "bad_gso",

	ReasonStormBroadcast: "storm_broadcast",
	ReasonStormMulticast: "storm_multicast",
	ReasonStormUnknown:   "storm_unknown",
	ReasonMACLimit:       "mac_limit",
	ReasonMACTaken:       "mac_taken",
	ReasonHoldExpired:    "hold_expired",
}

// String returns the reason's name as counters print it ("queue_full").
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}
