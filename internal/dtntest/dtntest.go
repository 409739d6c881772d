// Package dtntest starts dtn7-go's dtnd (built by scripts/dtnd.sh) for
// tests: a node with its own store in a temporary directory, optionally
// inside a network namespace, stopped when the test ends.
//
// Start, Binary and FreePort are for tests (they take a testing.TB and
// fail or skip the test); Launch and Find are the same without a test, for
// the measurements of apid/dtn/dtnbench. It is not for the switch or the
// link themselves, and it never links dtnd: dtnd is GPL-3.0 and runs as a
// separate process.
package dtntest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"spacenet/internal/netnstest"
)

// Binary returns the path of dtnd (Find); it skips the test when there is
// none.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := Find()
	if err != nil {
		t.Skip(err.Error())
	}
	return p
}

// ErrNotBuilt is Find's error when there is no dtnd.
var ErrNotBuilt = errors.New("dtnd not built: run scripts/deps.sh (or scripts/dtnd.sh)")

// Find returns the path of dtnd: $SPACENET_DTND, else dtnd in
// $SPACENET_DTND_DIR or ~/.cache/spacenet-dtnd (where scripts/dtnd.sh
// builds it), else dtnd on $PATH; ErrNotBuilt when there is none.
func Find() (string, error) {
	if p := os.Getenv("SPACENET_DTND"); p != "" {
		return p, nil
	}
	if d := os.Getenv("SPACENET_DTND_DIR"); d != "" {
		if p := filepath.Join(d, "dtnd"); fileExists(p) {
			return p, nil
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		if p := filepath.Join(home, ".cache", "spacenet-dtnd", "dtnd"); fileExists(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath("dtnd"); err == nil {
		return p, nil
	}
	return "", ErrNotBuilt
}

// Node is a running dtnd.
type Node struct {
	NodeID string // "dtn://a/"
	Agent  string // its web agent, host:port (inside NetNS)
	NetNS  string // the namespace it runs in, "" for the test's

	log  *lockedWriter
	cmd  *exec.Cmd
	done chan struct{}
}

// Output returns what dtnd has written so far.
func (n *Node) Output() string { return n.log.String() }

// Options configure a node.
type Options struct {
	NodeID string   // "dtn://a/"
	NetNS  string   // network namespace to run in; "" for the test's
	Agent  string   // web agent address; "" means 127.0.0.1:8080 (in NetNS) or a free port
	Listen string   // TCPCLv4 listen address, "" for none
	Peers  []string // TCPCLv4 peers, host:port
}

// Start writes a configuration for o, starts dtnd and waits until its web
// agent accepts connections (Launch). The node is stopped when the test
// ends, and its log written to the test's when the test failed.
func Start(t testing.TB, o Options) *Node {
	t.Helper()
	bin := Binary(t)
	if o.Agent == "" && o.NetNS == "" {
		o.Agent = FreePort(t)
	}
	n, err := Launch(bin, t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			t.Logf("dtnd %s log:\n%s", o.NodeID, n.Output())
		}
	})
	return n
}

// Launch writes a configuration for o into dir (its store goes there too),
// starts dtnd (the binary bin) and waits until its web agent accepts
// connections. The caller stops it (Stop). It needs no test: measurements
// (apid/dtn/dtnbench) start their dtnds with it.
func Launch(bin, dir string, o Options) (*Node, error) {
	if o.Agent == "" {
		if o.NetNS != "" {
			o.Agent = "127.0.0.1:8080"
		} else {
			a, err := FreeAddr()
			if err != nil {
				return nil, err
			}
			o.Agent = a
		}
	}
	var c strings.Builder
	fmt.Fprintf(&c, "[core]\nstore = %q\ninspect-all-bundles = true\nnode-id = %q\n\n", filepath.Join(dir, "store"), o.NodeID)
	c.WriteString("[logging]\nlevel = \"info\"\n\n[discovery]\nipv4 = false\nipv6 = false\n\n")
	fmt.Fprintf(&c, "[agents]\n[agents.webserver]\naddress = %q\nwebsocket = true\nrest = false\n\n", o.Agent)
	if o.Listen != "" {
		fmt.Fprintf(&c, "[[listen]]\nprotocol = \"tcpclv4\"\nendpoint = %q\n\n", o.Listen)
	}
	for _, p := range o.Peers {
		fmt.Fprintf(&c, "[[peer]]\nprotocol = \"tcpclv4\"\nendpoint = %q\n\n", p)
	}
	c.WriteString("[routing]\nalgorithm = \"epidemic\"\n")
	conf := filepath.Join(dir, "dtnd.toml")
	if err := os.WriteFile(conf, []byte(c.String()), 0o600); err != nil {
		return nil, err
	}
	args := []string{bin, conf}
	if o.NetNS != "" {
		args = append([]string{"ip", "netns", "exec", o.NetNS}, args...)
	}
	lw := &lockedWriter{w: new(bytes.Buffer)}
	n := &Node{NodeID: o.NodeID, Agent: o.Agent, NetNS: o.NetNS, log: lw, done: make(chan struct{})}
	n.cmd = exec.Command(args[0], args[1:]...)
	n.cmd.Dir = dir
	n.cmd.Stdout, n.cmd.Stderr = lw, lw
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dtnd: %w", err)
	}
	go func() {
		_ = n.cmd.Wait()
		close(n.done)
	}()
	// dtnd says nothing when its web agent is up: try it until it answers.
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := InNetNS(o.NetNS, func() error {
			c, err := net.DialTimeout("tcp", o.Agent, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			return n, nil
		}
		select {
		case <-n.done:
			return nil, fmt.Errorf("dtnd %s exited at start:\n%s", o.NodeID, lw.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.Stop()
			return nil, fmt.Errorf("dtnd %s: web agent %s not up after 15s: %v\n%s", o.NodeID, o.Agent, err, lw.String())
		}
	}
}

// Stop ends dtnd and waits for it.
func (n *Node) Stop() {
	if n.cmd.Process != nil {
		_ = n.cmd.Process.Kill()
	}
	<-n.done
}

// InNetNS runs fn inside network namespace ns (netnstest.Do).
func InNetNS(ns string, fn func() error) error { return netnstest.Do(ns, fn) }

// DialIn returns a dial function for dtn.LinkConfig.Dial that dials from
// inside namespace ns.
func DialIn[A any](ns string, dial func(ctx context.Context, addr, endpoint string) (A, error)) func(ctx context.Context, addr, endpoint string) (A, error) {
	return func(ctx context.Context, addr, endpoint string) (A, error) {
		var a A
		err := InNetNS(ns, func() error {
			var err error
			a, err = dial(ctx, addr, endpoint)
			return err
		})
		return a, err
	}
}

// FreePort returns 127.0.0.1:PORT with a TCP port free a moment ago.
func FreePort(t testing.TB) string {
	a, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// FreeAddr is FreePort without a test.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
