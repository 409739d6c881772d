// Package metricsbench measures what serving an APID switch's Prometheus
// endpoint costs its throughput: the switch scraped every interval against
// the same switch unobserved, rounds alternating, in the same run (what
// `spacenet bench switch --metrics` prints). It measures through package
// switchbench's in-process pairs; it is not a load test of the endpoint.
package metricsbench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/apidswitch/switchbench"
	"spacenet/internal/benchstat"
	"spacenet/ops/control"
	"spacenet/ops/observe"
)

// Options is a Run: the in-process switch bench's numbers (Pings unused:
// no latency is measured) and the time between scrapes in the "on"
// rounds.
type Options struct {
	switchbench.InProcess
	Scrape time.Duration
}

// quiet is the logger of the metrics server: its logs would only blur
// the figures.
var quiet = slog.New(slog.DiscardHandler)

// Run measures a switch (v0 topology, in dir/switch) with its endpoint off
// and on, rounds alternating, and prints a table of frames/s per batch and
// their ratio to o.Out. A frame the switch drops, or a failed scrape, fails
// the run.
func Run(ctx context.Context, o Options) error {
	sw, stopSwitch, err := switchbench.Start(ctx, apidswitch.Config{SocketDir: filepath.Join(o.Dir, "switch")})
	if err != nil {
		return err
	}
	defer stopSwitch()
	pair := func(scrape bool) func() (*switchbench.Pair, error) {
		return func() (*switchbench.Pair, error) {
			stop := func() error { return nil }
			if scrape {
				var err error
				if stop, err = StartScraper(sw, o.Scrape); err != nil {
					return nil, err
				}
			}
			p, err := switchbench.SwitchPair(sw)
			if err != nil {
				stop()
				return nil, err
			}
			// The scrapes' verdict, once the round is measured; Close
			// stops the scraper if the round failed before.
			var stopErr error
			stopOnce := sync.OnceFunc(func() { stopErr = stop() })
			drops := p.CheckDrops
			p.CheckDrops = func() error {
				if stopOnce(); stopErr != nil {
					return stopErr
				}
				return drops()
			}
			closePair := p.Close
			p.Close = func() { closePair(); stopOnce() }
			return p, nil
		}
	}
	out := o.Out
	fmt.Fprintf(out, "APID switch, Prometheus endpoint off vs on (GET /metrics every %v), %d frames per round, window %d, median of %d rounds\n\n",
		o.Scrape, o.Frames, o.Window, o.Rounds)
	fmt.Fprintf(out, "%-8s %16s %16s %8s\n", "batch", "off fr/s", "on fr/s", "on/off")
	for _, b := range o.Batches {
		offs, ons, err := switchbench.Alternate(o.Rounds, pair(false), pair(true), func(which string, p *switchbench.Pair) (float64, error) {
			fps, err := p.Throughput(b, o.Frames, o.Window)
			if err == nil {
				err = p.CheckDrops() // a drop, or for "on" a failed scrape
			}
			if err != nil {
				return 0, fmt.Errorf("metrics %s, batch %d: %w", map[string]string{"switch": "off", "relay": "on"}[which], b, err)
			}
			return fps, nil
		})
		if err != nil {
			return err
		}
		off, on := benchstat.Median(offs), benchstat.Median(ons)
		fmt.Fprintf(out, "%-8d %16.0f %16.0f %8.3f\n", b, off, on, on/off)
	}
	return nil
}

// StartScraper serves sw's metrics on a loopback port and scrapes them
// at once and then every interval until stop, which reports the first
// failed scrape.
func StartScraper(sw *apidswitch.Switch, interval time.Duration) (stop func() error, err error) {
	views, err := observe.APID(&control.APIDSource{Switch: sw}, "127.0.0.1:0", quiet)
	if err != nil {
		return nil, err
	}
	url := "http://" + views.MetricsAddr() + "/metrics"
	done, result := make(chan struct{}), make(chan error, 1)
	get := func(c *http.Client) error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
	go func() {
		c := &http.Client{Timeout: 5 * time.Second}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		ferr := get(c) // one scrape at the start of every round, however short
		for {
			select {
			case <-done:
				result <- ferr
				return
			case <-tick.C:
			}
			if err := get(c); err != nil && ferr == nil {
				ferr = err
			}
		}
	}()
	return func() error {
		close(done)
		err := <-result
		views.Close()
		return err
	}, nil
}

// ProcessOptions is a RunProcesses: every guest a process that launch
// starts (`spacenet bench role ...`), Frames per flow for each batch size,
// Rounds of off, on, off flows on one switch in Dir.
type ProcessOptions struct {
	Launch  switchbench.Launcher
	Frames  int
	Batches []int
	Rounds  int
	Scrape  time.Duration
	Dir     string
	Out     io.Writer
}

// RunProcesses measures the endpoint's cost as guests see it: each round
// runs three flows on one switch, off, on, off, and prints the on/off ratio
// against the two offs around it and the off/off ratio (the machine's
// noise) as quartiles (switchbench.ComparePaired).
func RunProcesses(ctx context.Context, o ProcessOptions) error {
	_, err := switchbench.ComparePaired(ctx, switchbench.PairedConfig{
		Launcher: o.Launch,
		Frames:   o.Frames,
		Batches:  o.Batches,
		Rounds:   o.Rounds,
		Dir:      o.Dir,
		Out:      o.Out,
		Switch: func(dir string) (*apidswitch.Switch, func(), error) {
			return switchbench.Start(ctx, apidswitch.Config{SocketDir: dir, Logger: quiet})
		},
		On:   func(sw *apidswitch.Switch) (func() error, error) { return StartScraper(sw, o.Scrape) },
		What: fmt.Sprintf("its Prometheus endpoint scraped every %v", o.Scrape),
	})
	return err
}
