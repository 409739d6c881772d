// Package guest is the guest's side of the APID plane: a Conn reads and
// writes whole 256-byte frames, many per system call, over a tenant's Unix
// socket (Dial) or, inside a VM, over the virtio-serial port or serial tty
// QEMU carries to that socket (OpenDevice, FromDevice). It is what guest
// programs, `spacenet inject`, the benchmarks and the typed IPC layer
// (ipc/switched) use to talk to the switch.
//
// Package guest is not the switch (package apidswitch, which a guest
// program never imports) and does not know what frames mean: the frame
// layout is package frame's, the switch's HEALTH and event payloads are
// package sysmsg's, and where the sockets live is package sockdir's.
package guest
