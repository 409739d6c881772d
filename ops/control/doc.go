// Package control is a running switch's control socket: a read-only
// snapshot of the counters the switch already keeps, as one JSON document
// over a Unix socket, and the client that reads it (spacenet status).
//
// The socket is SOCKET-DIR/.control (SocketName), mode 0600, beside the
// tenants' sockets: a tenant's socket is NAME.sock with NAME starting with a
// letter or digit, so no tenant can take the name, and the server answers
// only peers of its own uid (or root), whatever the file's mode. There is no
// request: a client connects and reads one document to EOF, so the server
// parses nothing. At most MaxClients are served at once (more are closed
// at once, unanswered); each has WriteTimeout to read its answer.
//
// A snapshot reads the switch's exported counters (apidswitch.Switch.Counters,
// Ground, ...; lan.Switch.Ports, MACs): it takes the same short locks a
// counters table at stop does and adds no work per frame. It is not a
// control plane: nothing here changes a switch.
//
// APID.Since compares two snapshots of one switch (a Delta): each tenant's
// rates in and out and each edge's frames and rate, as spacenet status and
// spacenet topology --live show them.
package control
