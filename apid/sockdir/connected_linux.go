package sockdir

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Unix socket diagnostics (linux/unix_diag.h): the kernel's own view of
// every Unix socket, read without connecting to any of them.
const (
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY
	udiagShowVFS     = 0x02
	unixDiagVFS      = 1
	unixDiagShutdown = 6
	tcpEstablished   = 1
)

// Connected counts the live connections a switch holds on the socket file
// at path (a guest connected to a tenant's socket): the kernel gives each socket it accepted the bound
// file's inode, and a connection whose guest has gone is shut down. It asks
// the kernel (NETLINK_SOCK_DIAG), not the switch: nobody is connected to or
// evicted. Only sockets in this network namespace are seen.
func Connected(path string) (int, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return 0, fmt.Errorf("%s is not a socket", path)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	req := make([]byte, unix.NLMSG_HDRLEN+24)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], sockDiagByFamily)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1) // sequence
	r := req[unix.NLMSG_HDRLEN:]
	r[0] = unix.AF_UNIX
	ne.PutUint32(r[4:], 1<<tcpEstablished) // udiag_states
	ne.PutUint32(r[12:], udiagShowVFS)     // udiag_show
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, err
	}
	// The kernel's dev_t (major<<20 | minor), as unix_diag_vfs holds it.
	dev := uint32(unix.Major(st.Dev))<<20 | uint32(unix.Minor(st.Dev))
	n := 0
	buf := make([]byte, 64<<10)
	for {
		m, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return 0, err
		}
		msgs, err := unixParseNetlink(buf[:m])
		if err != nil {
			return 0, err
		}
		for _, msg := range msgs {
			switch msg.Header.Type {
			case unix.NLMSG_DONE:
				return n, nil
			case unix.NLMSG_ERROR:
				if len(msg.Data) >= 4 {
					if e := int32(ne.Uint32(msg.Data)); e < 0 {
						return 0, unix.Errno(-e)
					}
				}
				return 0, errors.New("sock_diag: error reply")
			}
			if diagLive(msg.Data, uint32(st.Ino), dev) {
				n++
			}
		}
	}
}

func unixParseNetlink(b []byte) ([]syscall.NetlinkMessage, error) {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	return msgs, nil
}

// diagLive reports whether one unix_diag_msg (16 bytes, then attributes)
// is a socket on the file (ino, dev) that is not shut down.
func diagLive(b []byte, ino, dev uint32) bool {
	if len(b) < 16 || b[0] != unix.AF_UNIX || b[2] != tcpEstablished {
		return false
	}
	ne := binary.NativeEndian
	onFile, live := false, true
	for a := b[16:]; len(a) >= 4; {
		l, typ := int(ne.Uint16(a)), ne.Uint16(a[2:])
		if l < 4 || l > len(a) {
			return false
		}
		v := a[4:l]
		switch {
		case typ == unixDiagVFS && len(v) >= 8:
			onFile = ne.Uint32(v) == ino && ne.Uint32(v[4:]) == dev
		case typ == unixDiagShutdown && len(v) >= 1:
			live = v[0] == 0
		}
		a = a[min((l+3)&^3, len(a)):]
	}
	return onFile && live
}
