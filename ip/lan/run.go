package lan

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"text/tabwriter"

	"spacenet/ip/lan/fault"
	"spacenet/ip/nic"
)

// LAN is a Switch with the ports of a Config open: what `spacenet lan run`
// runs.
type LAN struct {
	Switch *Switch

	mu       sync.Mutex
	cfg      *Config
	log      *slog.Logger
	pcap     *PcapWriter
	pcapFile *os.File
	faults   map[string]*fault.NIC
}

// Open builds the switch of c and opens its ports. pcapPath, if not empty,
// overrides c.Pcap. On error nothing stays open.
func Open(c *Config, pcapPath string, log *slog.Logger) (*LAN, error) {
	if log == nil {
		log = slog.Default()
	}
	l := &LAN{cfg: c, log: log, faults: map[string]*fault.NIC{}}
	if pcapPath == "" {
		pcapPath = c.Pcap
	}
	opts := Options{Ageing: c.Ageing, MACTableSize: c.MACTableSize, FloodOnly: c.FloodOnly, QueueDepth: c.QueueDepth, Reach: c.Reach(), Logger: log}
	if pcapPath != "" {
		f, err := os.OpenFile(pcapPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, pcapMode)
		if err == nil {
			err = f.Chmod(pcapMode) // an existing file keeps its mode otherwise
		}
		if err != nil {
			if f != nil {
				f.Close()
			}
			return nil, fmt.Errorf("lan: pcap: %w", err)
		}
		pw, err := NewPcapWriter(f, nil)
		if err != nil {
			f.Close()
			return nil, err
		}
		l.pcap, l.pcapFile = pw, f
		opts.Monitor = pw.Monitor
	}
	l.Switch = New(opts)
	for i := range c.Ports {
		if err := l.attach(c, &c.Ports[i]); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// OpenNIC opens the NIC a port spec of c describes, wrapped in its
// faults. A qemu-* socket gets c's socket mode (its directory, if made,
// c's directory mode), whatever the umask.
func (c *Config) OpenNIC(p *PortSpec) (nic.NIC, error) {
	var n nic.NIC
	var err error
	qopts := nic.QEMUOptions{MTU: p.MTU}
	if c.onPeer != nil {
		port, tenant, hook := p.Name, p.Tenant, c.onPeer
		qopts.OnPeer = func(event string, gen uint64) { hook(port, tenant, event, gen) }
	}
	switch p.Kind {
	case KindQEMUStream, KindQEMUDgram:
		dirMode, sockMode := c.DirMode, c.SocketMode
		if dirMode == 0 {
			dirMode = DefaultDirMode
		}
		if sockMode == 0 {
			sockMode = DefaultSocketMode
		}
		if err := makeSocketDir(filepath.Dir(p.Path), dirMode); err != nil {
			return nil, fmt.Errorf("lan: port %s: %w", p.Name, err)
		}
		if p.Kind == KindQEMUStream {
			n, err = nic.ListenQEMUStream(p.Path, qopts)
		} else {
			n, err = nic.ListenQEMUDgram(p.Path, p.Peer, qopts)
		}
		if err == nil {
			if err = chmodSocket(p.Path, sockMode); err != nil {
				n.Close()
			}
		}
	case KindTAP:
		n, err = nic.OpenTAP(p.Ifname, nic.TAPOptions{MTU: p.MTU, Up: true, PassThrough: true})
	case KindPacket:
		n, err = nic.OpenPacket(p.Ifname)
	case KindVXLAN:
		n, err = nic.OpenVXLAN(nic.VXLANConfig{Local: p.Local, Peer: p.Remote, VNI: p.VNI, MTU: p.MTU})
	default:
		err = fmt.Errorf("unknown kind %q", p.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("lan: port %s: %w", p.Name, err)
	}
	if p.Fault != nil {
		n = fault.Wrap(n, *p.Fault, p.FaultSeed)
	}
	return n, nil
}

func (l *LAN) attach(c *Config, p *PortSpec) error {
	c.onPeer = l.peerEvent
	n, err := c.OpenNIC(p)
	if err != nil {
		return err
	}
	if err := l.Switch.Attach(n, p.PortConfig()); err != nil {
		n.Close()
		return err
	}
	if f, ok := n.(*fault.NIC); ok {
		l.faults[p.Name] = f
	}
	l.log.Info("lan: port up", "port", p.Name, "tenant", p.Tenant, "kind", p.Kind, "nic", n.Name())
	return nil
}

// peerEvent logs a qemu-stream port's peer connecting, being replaced or
// going, in the APID switch's shape ("tenant connected", tenant,
// generation) with the port.
func (l *LAN) peerEvent(port, tenant, event string, gen uint64) {
	l.log.Info("tenant "+event, "tenant", tenant, "port", port, "generation", gen)
}

// Config returns the configuration in force.
func (l *LAN) Config() *Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// Reload applies c: ports removed or changed are detached, new or changed
// ones attached, tenant reachability replaced. Switch-wide settings (ageing,
// table size, flood-only, queue depth, pcap) need a restart: they are kept
// and reported in the returned notes. Ports that fail to open are reported
// in the error; the others are applied.
func (l *LAN) Reload(c *Config) (notes []string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.cfg
	if old.Ageing != c.Ageing || old.MACTableSize != c.MACTableSize || old.FloodOnly != c.FloodOnly || old.QueueDepth != c.QueueDepth || old.Pcap != c.Pcap {
		notes = append(notes, "switch settings (ageing, mac_table_size, flood_only, queue_depth, pcap) changed: they apply after a restart")
	}
	byName := func(ps []PortSpec) map[string]*PortSpec {
		m := map[string]*PortSpec{}
		for i := range ps {
			m[ps[i].Name] = &ps[i]
		}
		return m
	}
	was, now := byName(old.Ports), byName(c.Ports)
	for _, p := range old.Ports {
		if q, ok := now[p.Name]; !ok || !reflect.DeepEqual(&p, q) {
			l.Switch.Detach(p.Name)
			delete(l.faults, p.Name)
			notes = append(notes, "port "+p.Name+" detached")
		}
	}
	l.Switch.SetReach(c.Reach())
	var errs []error
	for i := range c.Ports {
		p := &c.Ports[i]
		if q, ok := was[p.Name]; ok && reflect.DeepEqual(p, q) {
			continue
		}
		if err := l.attach(c, p); err != nil {
			errs = append(errs, err)
			continue
		}
		notes = append(notes, "port "+p.Name+" attached")
	}
	l.cfg = c
	return notes, errors.Join(errs...)
}

// Report writes every port's counters, the fault injectors' and the
// switch's, one line each.
func (l *LAN) Report(w io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// One table, as spacenet run prints the APID switch's counters: a
	// line per port, drops by reason in the last column.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tTENANT\tRX_FRAMES\tRX_BYTES\tTX_FRAMES\tTX_BYTES\tHELD\tDROPPED_BY_REASON")
	ports := l.Switch.Ports()
	for _, p := range ports {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n",
			p.Name, p.Tenant, p.RxFrames, p.RxBytes, p.TxFrames, p.TxBytes, p.Held, dropString(p))
	}
	tw.Flush()
	for _, p := range ports {
		if n := p.NICStats; p.HasNICStats {
			if d := n.RxTooBig + n.RxFraming + n.RxBadCsum + n.RxGSO + n.RxKernel + n.TxTooBig + n.TxErrors + n.TxNoPeer; d > 0 {
				fmt.Fprintf(w, "port %s nic %s: rx too_big %d framing %d bad_csum %d gso %d kernel %d, tx too_big %d errors %d no_peer %d\n",
					p.Name, p.NIC, n.RxTooBig, n.RxFraming, n.RxBadCsum, n.RxGSO, n.RxKernel, n.TxTooBig, n.TxErrors, n.TxNoPeer)
			}
		}
		if f := l.faults[p.Name]; f != nil {
			s := f.Stats()
			fmt.Fprintf(w, "port %s faults: sent %d delivered %d lost %d outage %d mtu %d corrupted %d duplicated %d reordered %d delayed %d\n",
				p.Name, s.Sent, s.Delivered, s.Lost, s.Outage, s.MTU, s.Corrupted, s.Duplicated, s.Reordered, s.Delayed)
		}
	}
	st := l.Switch.Stats()
	fmt.Fprintf(w, "switch: %d MACs, %d not learned (table full), %d moves\n", st.MACs, st.LearnFull, st.Moves)
	if l.pcap != nil {
		fmt.Fprintf(w, "pcap: %d frames written\n", l.pcap.Frames())
	}
}

// dropString is a port's drops as "rx:REASON=N,tx:REASON=N", "-" when
// none, and FAILED for a port whose NIC failed.
func dropString(p PortStats) string {
	var parts []string
	for r := range NumReasons {
		if n := p.RxDrops[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("rx:%s=%d", r, n))
		}
		if n := p.TxDrops[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("tx:%s=%d", r, n))
		}
	}
	if p.Failed {
		parts = append(parts, "FAILED")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// Flush writes out the pcap buffer, if capturing.
func (l *LAN) Flush() error {
	if l.pcap == nil {
		return nil
	}
	return l.pcap.Flush()
}

// Close closes every port and the pcap file.
func (l *LAN) Close() error {
	err := l.Switch.Close()
	if l.pcap != nil {
		err = errors.Join(err, l.pcap.Flush(), l.pcapFile.Close())
	}
	return err
}
