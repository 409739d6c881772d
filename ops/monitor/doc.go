// Package monitor is the APID switch's monitor socket: a read-only view of
// the frames passing through a running switch, as tcpdump gives one of an
// interface, and its client (spacenet monitor). It is not a way into the
// switch: a monitor cannot send a frame, and cannot slow the switch.
//
// The socket is SOCKET-DIR/.monitor (SocketName), mode 0600, beside the
// control socket and opened the same way (control.ListenSocket): the server
// answers only peers of its own uid (or root, control.Trusted). A client
// writes one request, a JSON object on one line of at most MaxRequest
// bytes (Request: which tenants, which APIDs, which direction, how big a
// buffer), and then only reads. The server opens a tap on the switch
// (apidswitch.Switch.Tap: a bounded ring the switch copies the selected
// frames into, dropping and counting what does not fit) and streams its
// records: a Ready record once the tap is open, so that a client knows
// that every frame after that is seen, then one Frame record per frame and
// a Stats record whenever the tap's drops grow, and a last Stats record
// when the tap ends (the client went away or the switch's views close):
// then Passed = Delivered + Dropped, and Delivered is the number of Frame
// records written. A refused request is answered with one Error record.
//
// A monitor that reads slowly, or not at all, only loses its own records
// (counted in Dropped): the switch never waits for it. At most MaxClients
// monitors are served at once (apidswitch.MaxTaps); more get an Error.
//
// The records are binary (Encode*/ReadEvent, big-endian); WritePcapng
// turns Frame records into a pcapng file with the project's link type
// (USER0, DLT 147, read by contrib/wireshark/spacenet.lua), one interface
// per peer and the direction in each packet's flags.
package monitor
