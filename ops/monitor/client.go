package monitor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"spacenet/ops/control"
)

// ErrRefused wraps the switch's answer to a request it refused (an Error
// record): an unknown tenant, a bad filter, too many monitors.
var ErrRefused = errors.New("monitor refused")

// Client is a monitor connected to a switch's monitor socket.
type Client struct {
	c *net.UnixConn
	r *bufio.Reader
}

// Dial connects to the monitor socket at path, sends req and waits for the
// switch to open its tap: every frame the switch handles after Dial returns
// is seen (or counted dropped). An error wraps control.ErrNoServer when
// nothing answers at path, ErrRefused when the switch refused req.
func Dial(path string, req Request) (*Client, error) {
	if _, _, err := req.Filter(); err != nil {
		return nil, err
	}
	line, err := jsonLine(req)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("unix", path, RequestTimeout)
	if err != nil {
		return nil, fmt.Errorf("%w on %s: %v (is the switch running with this --socket-dir?)", control.ErrNoServer, path, err)
	}
	c := conn.(*net.UnixConn)
	cl := &Client{c: c, r: bufio.NewReaderSize(c, 64<<10)}
	c.SetDeadline(time.Now().Add(2 * RequestTimeout))
	_, werr := c.Write(line) // a server refusing at once (busy) may have closed already
	e, err := ReadEvent(cl.r)
	if werr != nil && (err != nil || e.Kind != KindError) {
		c.Close()
		return nil, fmt.Errorf("monitor socket %s: %w", path, werr)
	}
	c.SetDeadline(time.Time{})
	switch {
	case err != nil:
		c.Close()
		return nil, fmt.Errorf("monitor socket %s: no answer (served to another user only?): %w", path, err)
	case e.Kind == KindError:
		c.Close()
		return nil, fmt.Errorf("%w: %s", ErrRefused, e.Err)
	case e.Kind != KindReady:
		c.Close()
		return nil, fmt.Errorf("monitor socket %s: %w: %c before Ready", path, ErrBadRecord, e.Kind)
	}
	return cl, nil
}

// Next reads the next record: a Frame or a Stats. It returns io.EOF after
// the last Stats record, once the switch ended the stream.
func (c *Client) Next() (Event, error) { return ReadEvent(c.r) }

// Close ends the monitor: the switch closes its tap.
func (c *Client) Close() error { return c.c.Close() }

// CloseWrite tells the switch the monitor is done while still reading: it
// then sends what the tap holds and the last Stats record, and ends the
// stream.
func (c *Client) CloseWrite() error { return c.c.CloseWrite() }

// jsonLine is req as a request line, newline included.
func jsonLine(req Request) ([]byte, error) {
	line, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if len(line)+1 > MaxRequest {
		return nil, fmt.Errorf("request: over %d bytes", MaxRequest)
	}
	return append(line, '\n'), nil
}

// Buffered is how many bytes of records have arrived and not been read:
// 0 when Next would wait for the switch.
func (c *Client) Buffered() int { return c.r.Buffered() }
