package dtn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"golang.org/x/net/websocket"
)

// The application agent of dtn7-go's dtnd (its "web agent", a WebSocket at
// ws://ADDRESS/ws). Every message either way is one CBOR array
// [type, content]:
//
//	0 status    content: text, "" for success (dtnd's answer to a registration)
//	1 register  content: text, the endpoint ID to receive bundles for
//	2 bundle    content: a bundle (RFC 9171 CBOR)
//	3 syscall request, 4 syscall response (not used here; skipped)
//
// The client registers one endpoint, then sends and receives bundles.
const (
	msgStatus   = 0
	msgRegister = 1
	msgBundle   = 2
	msgSysReq   = 3
	msgSysResp  = 4
)

// MaxMessage bounds one message from dtnd; a longer one ends the
// connection.
const MaxMessage = 1 << 20

// Message is one message from dtnd: a Bundle (Kind msgBundle) or a status
// (the answer to the registration; Status empty for success). Other kinds
// are skipped by Agent.Receive.
type Message struct {
	Kind   int
	Status string
	Bundle Bundle
}

// DecodeMessage reads one message from the start of in and returns it and
// the bytes it took. IsShort(err) means in ends inside it. A bundle's
// Payload is a slice of in.
func DecodeMessage(in []byte) (Message, int, error) {
	var m Message
	d := decoder{b: in}
	n, err := d.arrayLen()
	if err != nil {
		return m, 0, err
	}
	if n != 2 {
		return m, 0, fmt.Errorf("%w: an agent message is [type, content], got %d elements", errCBOR, n)
	}
	k, err := d.uint()
	if err != nil {
		return m, 0, err
	}
	m.Kind = int(min(k, 255))
	switch k {
	case msgStatus:
		s, err := d.str(majorText)
		if err != nil {
			return m, 0, err
		}
		m.Status = string(s)
	case msgBundle:
		if _, err := decodeBundle(&d, &m.Bundle); err != nil {
			return m, 0, err
		}
	case msgRegister, msgSysReq, msgSysResp:
		if err := d.skip(0); err != nil {
			return m, 0, err
		}
	default:
		return m, 0, fmt.Errorf("%w: agent message type %d", errCBOR, k)
	}
	return m, d.off, nil
}

// Agent is a connection to dtnd's web agent, registered for one endpoint.
// Send may be called from one goroutine and Receive from another.
type Agent struct {
	ws       *websocket.Conn
	endpoint string
	buf      []byte // received bytes not yet decoded: buf[start:end]
	start    int
	end      int
	out      []byte // Send's encoding buffer
}

// Dial connects to dtnd's web agent at addr (host:port) and registers
// endpoint, an endpoint ID of dtnd's node ("dtn://node/spacenet"). It
// waits for dtnd's answer until ctx is done.
func Dial(ctx context.Context, addr, endpoint string) (*Agent, error) {
	if err := ValidEID(endpoint); err != nil {
		return nil, fmt.Errorf("dtn: %w", err)
	}
	cfg, err := websocket.NewConfig("ws://"+addr+"/ws", "http://"+addr)
	if err != nil {
		return nil, fmt.Errorf("dtn: agent %s: %w", addr, err)
	}
	ws, err := cfg.DialContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("dtn: agent %s: %w", addr, err)
	}
	ws.PayloadType = websocket.BinaryFrame
	a := &Agent{ws: ws, endpoint: endpoint, buf: make([]byte, 64<<10)}
	if dl, ok := ctx.Deadline(); ok {
		_ = ws.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = ws.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	msg := appendHead(nil, majorArray, 2)
	msg = appendUint(msg, msgRegister)
	msg = appendText(msg, endpoint)
	if _, err := ws.Write(msg); err != nil {
		ws.Close()
		return nil, fmt.Errorf("dtn: agent %s: register %s: %w", addr, endpoint, err)
	}
	m, err := a.Receive()
	if err == nil && (m.Kind != msgStatus || m.Status != "") {
		err = fmt.Errorf("dtnd refused: %q", m.Status)
	}
	if err != nil {
		ws.Close()
		return nil, fmt.Errorf("dtn: agent %s: register %s: %w", addr, endpoint, err)
	}
	_ = ws.SetDeadline(time.Time{})
	return a, nil
}

// Endpoint is the endpoint ID the agent registered.
func (a *Agent) Endpoint() string { return a.endpoint }

// Send gives dtnd bundle b to forward. It is not safe for concurrent use.
func (a *Agent) Send(b *Bundle) error {
	out := appendHead(a.out[:0], majorArray, 2)
	out = appendUint(out, msgBundle)
	out, err := b.Append(out)
	if err != nil {
		return fmt.Errorf("dtn: %w", err)
	}
	a.out = out
	if _, err := a.ws.Write(out); err != nil {
		return fmt.Errorf("dtn: send to dtnd: %w", err)
	}
	return nil
}

// Receive returns the next status or bundle message from dtnd; messages of
// other kinds are skipped. A bundle's Payload is valid until the next
// Receive. The WebSocket's frames are read as one byte stream and split
// by the messages' own CBOR lengths (dtnd may fragment a message across
// frames). A malformed message, or one longer than MaxMessage, is an
// error: the stream cannot be resynchronised, and the caller should close
// the agent.
func (a *Agent) Receive() (Message, error) {
	for {
		if a.end > a.start {
			m, n, err := DecodeMessage(a.buf[a.start:a.end])
			switch {
			case err == nil:
				a.start += n
				if m.Kind == msgStatus || m.Kind == msgBundle {
					return m, nil
				}
				continue
			case !IsShort(err):
				return Message{}, fmt.Errorf("dtn: message from dtnd: %w", err)
			}
		}
		if a.start > 0 { // move what is left to the front
			a.end = copy(a.buf, a.buf[a.start:a.end])
			a.start = 0
		}
		if a.end == len(a.buf) {
			if len(a.buf) >= MaxMessage {
				return Message{}, fmt.Errorf("dtn: message from dtnd longer than %d bytes", MaxMessage)
			}
			a.buf = append(a.buf, make([]byte, len(a.buf))...)
		}
		n, err := a.ws.Read(a.buf[a.end:])
		a.end += n
		if err != nil && n == 0 {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return Message{}, io.EOF
			}
			return Message{}, fmt.Errorf("dtn: read from dtnd: %w", err)
		}
	}
}

// Close closes the connection; a Receive in progress returns.
func (a *Agent) Close() error { return a.ws.Close() }
