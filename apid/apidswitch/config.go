package apidswitch

import (
	"io/fs"
	"log/slog"
	"time"

	"spacenet/apid/ccsds"
	"spacenet/apid/frame"
	"spacenet/apid/policy"
	"spacenet/apid/sockdir"
	"spacenet/apid/sysmsg"
)

// Defaults for the zero fields of Config (the socket directory's is
// sockdir.Default).
const (
	DefaultDirMode  = fs.FileMode(0o700)
	DefaultSockMode = fs.FileMode(0o600)
	DefaultQueueLen = 1024 // frames per destination tenant (256 KiB)
	DefaultBatch    = 256  // frames per read and per write
)

// Downlink takes the Space Packets of frames routed to the ground. SendPacket
// is called from a reader goroutine with the switch's downlink mutex held, one
// packet at a time in sequence-count order; pkt is only valid during the
// call. An error counts the frame as dropped with Link_failed and answers the
// sender with an ERROR frame.
type Downlink interface {
	SendPacket(pkt []byte) error
}

// FrameDownlink takes frames routed to the ground as they are, for a ground
// link that carries frames itself (the seed's DTN ground callback, a bundle
// agent) rather than Space Packets. SendFrame is called as
// Downlink.SendPacket is: from a reader goroutine, with the switch's downlink
// mutex held, one frame at a time in the order the switch routed them; f
// (256 bytes, padding after payload_length zeroed) is only valid during the
// call. An error counts the frame as dropped with Link_failed and answers the
// sender with an ERROR frame.
type FrameDownlink interface {
	SendFrame(f *frame.Frame) error
}

// SystemHandler receives the frames sent to system APIDs 0x001-0x00F that
// the switch does not handle itself (see Config.System). It runs on the
// sender's reader goroutine: it must not block, and f is only valid during
// the call.
type SystemHandler func(tenant string, f *frame.Frame)

// Config is what New needs. Only Policy is required.
type Config struct {
	Policy    *policy.Policy // tenants and routes; nil means policy.Default()
	SocketDir string         // where <tenant>.sock live; "" means sockdir.Default()
	DirMode   fs.FileMode    // mode of a socket directory the switch creates; 0 means 0700; never writable by group or others
	SockMode  fs.FileMode    // mode of each socket file; 0 means 0600
	QueueLen  int            // bound of each tenant's queue, in frames; 0 means DefaultQueueLen
	Batch     int            // most frames per read and per write; 0 means DefaultBatch

	// Downlink takes frames routed to the ground (to 0x000, to the ground's
	// APIDs or to an APID no tenant owns, from a tenant the policy lets use
	// the ground link) as CCSDS Space Packets. DownlinkFrames takes them as raw
	// frames instead. At most one of the two may be set; with neither,
	// there is no ground link and such frames are refused with No_route (the
	// sender gets an ERROR frame, its Dropped[No_route] counts the frame).
	Downlink       Downlink
	DownlinkFrames FrameDownlink
	// Remote takes frames routed to a remote switch (policy.Remote), as
	// package apid/dtn's Link does; nil refuses them with No_route.
	Remote RemoteLink
	// Layout is how Downlink's packets lay frames out (ccsds.Layout; the
	// zero value is ccsds.Plain). The sequence count is kept per APID.
	Layout ccsds.Layout
	// Clock gives the time of ccsds.CFS telemetry; nil means time.Now.
	Clock func() time.Time
	// System receives system frames other than the built-in HEALTH
	// requests; nil means they are logged and counted only.
	System SystemHandler
	// OnEvent is called when a tenant connects, is replaced or goes away,
	// after the switch's own notifications are queued, one event at a time
	// and in the order the connections changed. It runs on the goroutine
	// that saw the event, must not block, and must not wait for another
	// connection to change.
	OnEvent func(Event)
	// Logger receives the switch's logs; nil means slog.Default(). The
	// switch never writes to it from a forwarding goroutine: records go
	// through a bounded buffer (logging.Async) that one goroutine drains,
	// dropping and counting what does not fit (Switch.LogsDropped), and each
	// per-frame line is thinned per tenant and kind, with a "suppressed"
	// count. A Logger that already writes through a logging.Async is used as
	// it is; its owner starts and closes it.
	Logger *slog.Logger
}

// Event is a change of a tenant's connection.
type Event struct {
	Kind       sysmsg.EventKind
	Tenant     string
	Generation uint64 // the tenant's generation after the event
}

func (c *Config) withDefaults() Config {
	o := *c
	if o.Policy == nil {
		o.Policy = policy.Default()
	}
	if o.SocketDir == "" {
		o.SocketDir = sockdir.Default()
	}
	if o.DirMode == 0 {
		o.DirMode = DefaultDirMode
	}
	if o.SockMode == 0 {
		o.SockMode = DefaultSockMode
	}
	if o.QueueLen <= 0 {
		o.QueueLen = DefaultQueueLen
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}
