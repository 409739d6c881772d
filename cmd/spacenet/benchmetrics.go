package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"spacenet/apid/apidswitch"
	"spacenet/apid/apidswitch/switchbench"
	"spacenet/internal/benchstat"
	"spacenet/ops/control"
	"spacenet/ops/observe"
)

// runBenchMetrics is bench switch --metrics: the switch's throughput with
// its Prometheus endpoint scraped every --scrape against the same switch
// unobserved, rounds alternating, in the same run.
func runBenchMetrics(cmd *cobra.Command, batches []int, base string) error {
	fl := benchSwitchFlags
	sw, stopSwitch, err := startSwitch(context.Background(), apidswitch.Config{SocketDir: filepath.Join(base, "switch"), Logger: quietLog})
	if err != nil {
		return err
	}
	defer stopSwitch()
	pair := func(scrape bool) func() (*benchPair, error) {
		return func() (*benchPair, error) {
			var stop func() error = func() error { return nil }
			if scrape {
				var err error
				if stop, err = startScraper(sw, fl.scrape); err != nil {
					return nil, err
				}
			}
			tx, err := apidswitch.Dial(sw.SocketPath("camera"))
			if err != nil {
				stop()
				return nil, err
			}
			rx, err := apidswitch.Dial(sw.SocketPath("processor"))
			if err != nil {
				tx.Close()
				stop()
				return nil, err
			}
			p := &benchPair{tx: tx, rx: rx, src: 0x010, dst: 0x020, checkDrops: func() error { return nil }}
			p.close = func() {
				tx.Close()
				rx.Close()
				if err := stop(); err != nil {
					p.checkDrops = func() error { return err }
				}
			}
			return p, nil
		}
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "APID switch, Prometheus endpoint off vs on (GET /metrics every %v), %d frames per round, window %d, median of %d rounds\n\n",
		fl.scrape, fl.frames, fl.window, fl.rounds)
	fmt.Fprintf(out, "%-8s %16s %16s %8s\n", "batch", "off fr/s", "on fr/s", "on/off")
	for _, b := range batches {
		offs, ons, err := alternate(fl.rounds, pair(false), pair(true), func(which string, p *benchPair) (float64, error) {
			fps, err := throughput(p, b, fl.frames, fl.window)
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

// runBenchMetricsProcesses is bench switch --processes --metrics: off, on,
// off flows on one switch, every guest a process (switchbench.ComparePaired).
func runBenchMetricsProcesses(cmd *cobra.Command, batches []int, base string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fl := benchSwitchFlags
	_, err = switchbench.ComparePaired(cmd.Context(), switchbench.PairedConfig{
		Launcher: func(args []string) *exec.Cmd {
			return exec.Command(self, append([]string{"bench", "role"}, args...)...)
		},
		Frames:  fl.frames,
		Batches: batches,
		Rounds:  fl.rounds,
		Dir:     base,
		Out:     cmd.OutOrStdout(),
		Switch: func(dir string) (*apidswitch.Switch, func(), error) {
			return startSwitch(cmd.Context(), apidswitch.Config{SocketDir: dir, Logger: quietLog})
		},
		On:   func(sw *apidswitch.Switch) (func() error, error) { return startScraper(sw, fl.scrape) },
		What: fmt.Sprintf("its Prometheus endpoint scraped every %v", fl.scrape),
	})
	return err
}

// startScraper serves sw's metrics on a loopback port and scrapes them
// at once and then every interval until stop, which reports the first
// failed scrape.
func startScraper(sw *apidswitch.Switch, interval time.Duration) (stop func() error, err error) {
	views, err := observe.APID(&control.APIDSource{Switch: sw}, "127.0.0.1:0", quietLog)
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
