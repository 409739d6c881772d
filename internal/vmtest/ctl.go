package vmtest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CtlScript is a guest run script that serves a control port: it reads
// shell commands from /dev/virtio-ports/ctl, one a line, runs each with its
// output to the port and answers a line "\x1edone RC". Give the guest a
// Port named "ctl" on a Ctl's socket. Commands run one at a time.
const CtlScript = `exec 3<>/dev/virtio-ports/ctl
while read -r cmd <&3; do
	sh -c "$cmd" >&3 2>&1 </dev/null
	printf '\036done %d\n' $? >&3
done
`

const doneMark = "\x1edone "

// Ctl is the host's end of a guest's control port (CtlScript): a Unix
// socket QEMU connects to.
type Ctl struct {
	Socket string
	ln     *net.UnixListener
	conn   *net.UnixConn
	r      *bufio.Reader
}

// ListenCtl listens on dir/name.ctl for a guest's control port.
func ListenCtl(dir, name string) (*Ctl, error) {
	path := filepath.Join(dir, name+".ctl")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("vmtest: control socket: %w", err)
	}
	return &Ctl{Socket: path, ln: ln}, nil
}

// Accept waits (until deadline) for QEMU's connection.
func (c *Ctl) Accept(deadline time.Time) error {
	c.ln.SetDeadline(deadline)
	conn, err := c.ln.AcceptUnix()
	if err != nil {
		return fmt.Errorf("vmtest: %s: no connection from QEMU: %w", c.Socket, err)
	}
	c.conn, c.r = conn, bufio.NewReader(conn)
	return nil
}

// Start sends a command (one line) to the guest.
func (c *Ctl) Start(cmd string) error {
	if strings.ContainsRune(cmd, '\n') {
		return errors.New("vmtest: a command is one line")
	}
	_, err := c.conn.Write([]byte(cmd + "\n"))
	return err
}

// Line reads the next output line of the running command (until
// deadline); done is true (and rc set) at the command's end.
func (c *Ctl) Line(deadline time.Time) (line string, done bool, rc int, err error) {
	c.conn.SetReadDeadline(deadline)
	line, err = c.r.ReadString('\n')
	if err != nil {
		return "", false, 0, fmt.Errorf("vmtest: %s: %w (output so far %q)", c.Socket, err, line)
	}
	line = strings.TrimSuffix(line, "\n")
	if i := strings.Index(line, doneMark); i >= 0 {
		rc, err = strconv.Atoi(line[i+len(doneMark):])
		return line[:i], true, rc, err
	}
	return line, false, 0, nil
}

// Wait reads the running command's output to its end.
func (c *Ctl) Wait(deadline time.Time) (out string, rc int, err error) {
	var b strings.Builder
	for {
		line, done, rc, err := c.Line(deadline)
		if err != nil {
			return b.String(), 0, err
		}
		if line != "" || !done {
			b.WriteString(line + "\n")
		}
		if done {
			return b.String(), rc, nil
		}
	}
}

// Run runs cmd in the guest and returns its output and exit status.
func (c *Ctl) Run(cmd string, deadline time.Time) (string, int, error) {
	if err := c.Start(cmd); err != nil {
		return "", 0, err
	}
	return c.Wait(deadline)
}

// Close closes the connection and the listener and removes the socket.
func (c *Ctl) Close() error {
	if c.conn != nil {
		c.conn.Close()
	}
	err := c.ln.Close()
	os.Remove(c.Socket)
	return err
}
