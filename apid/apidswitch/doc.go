// Package apidswitch is the APID plane's switch (spec apid-plane.md,
// sections 5 and 6): it listens on one Unix socket per tenant, reads 256-byte
// frames in batches, routes each through a router.Table and writes them to
// the destination tenant's connection in batches.
//
// A Switch is built from a policy.Policy with New and runs under a
// context.Context with Run; cancelling the context stops it cleanly: every
// goroutine ends, every socket file still its own is removed and the frames
// still queued stay counted as queued. While it runs, Reload swaps the
// policy without dropping connections, Inject delivers a frame from the
// ground, and Counters and Tenants report per-tenant counters, generations
// and connection state. Run refuses a socket directory another user could
// change and holds a lock on it while it runs (listen.go,
// docs/apid-switch.md "Socket directory").
//
// The data path: each connection has a reader goroutine (one read fills a
// buffer of many frames; every whole frame is routed; the remainder is kept)
// and a writer goroutine (it drains the tenant's bounded queue into one
// write of up to Config.Batch frames, straight from the queue's ring). A
// run of frames for a tenant whose queue is empty is written by the reader
// itself, straight from its read buffer (direct.go). A frame whose
// destination is full is held, and its sender is not read meanwhile, for
// up to the destination's hold time without progress, then refused with
// Host_busy (or at once, by policy: when_full = "drop"); only senders to a
// slow guest wait for it (docs/apid-switch.md, "Flow control"). The
// forwarding path does not allocate. A tenant whose policy sets resync (a serial line that may lose
// bytes) has its stream resynchronised after a run of frames that fail to
// decode: the reader skips to the next header the tenant owns, counting
// the bytes (sync.go, Counters.SkippedBytes).
//
// The client side is not here: a guest program never imports this package.
// It uses package guest (a Conn reads and writes frames in batches, over the
// tenant's socket or a VM's device), package sysmsg (the system APIDs and
// the HEALTH, subscription and event payloads, which this package encodes)
// and package sockdir (the default socket directory).
//
// Package apidswitch does not decide routes (package router does), parse
// configuration files (package policy) or encode CCSDS packets (package
// ccsds: Config.Layout picks plain, cfs or spacenet); it does not know the
// UDP or TCP ground link either (package uplink implements the Downlink
// interface; Config.DownlinkFrames takes raw frames instead, for a link that
// carries frames itself).
package apidswitch
