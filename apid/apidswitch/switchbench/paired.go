package switchbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"spacenet/apid/apidswitch"
	"spacenet/apid/frame"
	"spacenet/internal/benchstat"
)

// PairedConfig is a ComparePaired run: the same switch with a variant off
// and on (its metrics endpoint scraped, say), every guest a process.
type PairedConfig struct {
	Launcher Launcher
	Frames   int   // frames per flow
	Batches  []int // frames per write
	Rounds   int
	Dir      string
	Out      io.Writer
	// Switch makes the switch under dir, running until stop is called.
	Switch func(dir string) (*apidswitch.Switch, func(), error)
	// On turns the variant on for one flow on sw; stop turns it off and
	// reports the variant's failure, if any.
	On func(sw *apidswitch.Switch) (stop func() error, err error)
	// What names the variant in the table.
	What string
}

// PairedResult is one batch size's figures: per round the on/off ratio
// (on against the mean of the two off flows around it) and the off/off
// ratio of those two (the noise of the machine, measured the same way).
type PairedResult struct {
	Batch      int
	OnOff, AA  []float64 // per round
	OffFPS, On []float64 // per round: mean of the two offs, and on
	Lost       int       // frames the sink did not read, over every flow
	// CPUOnOff and CPUAA are the same ratios of the CPU time this process
	// (the switch, and the variant's own work when it runs here, such as
	// a scraper) spent per frame: on against the two offs, and off/off.
	// CPU time per frame varies far less with the machine's load than
	// frames/s.
	CPUOnOff, CPUAA []float64
	// Dropped is what the switch refused of the sender's frames over every
	// flow (its own counters): 0 with Lost > 0 means the sink gave up
	// waiting (a process starved of the CPU for its idle time), not that
	// the switch lost frames.
	Dropped uint64
}

// Quartiles returns the 25th, 50th and 75th percentiles of v by
// benchstat.Percentile's nearest-rank rule (0, 0, 0 if v is empty). v is
// not modified.
func Quartiles(v []float64) (q1, median, q3 float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return benchstat.Percentile(s, 25), benchstat.Percentile(s, 50), benchstat.Percentile(s, 75)
}

// ComparePaired measures, round after round in one run on one switch,
// three flows of cfg.Frames frames: off, on, off, so that on is compared
// with the flows just before and after it (a drift of the machine's load
// cancels) and the two offs with each other (the noise floor). It prints
// the medians and quartiles of both ratios per batch size.
func ComparePaired(ctx context.Context, cfg PairedConfig) ([]PairedResult, error) {
	sw, stop, err := cfg.Switch(filepath.Join(cfg.Dir, "switch"))
	if err != nil {
		return nil, err
	}
	defer stop()
	t := Target{Sender: sw.SocketPath("camera"), Receiver: sw.SocketPath("processor"), Src: 0x010, Dst: 0x020}
	out := cfg.Out
	fmt.Fprintf(out, "APID switch with %s vs without, every guest a separate process writing flat out,\n", cfg.What)
	fmt.Fprintf(out, "%d frames per flow; each of %d rounds runs off, on, off on the same switch\n\n", cfg.Frames, cfg.Rounds)
	fmt.Fprintf(out, "%-6s %13s %13s %24s %24s %14s %6s %8s\n", "batch", "off fr/s", "on fr/s", "on/off q1 median q3", "off/off q1 median q3", "cpu on/off a/a", "lost", "dropped")
	camera := func() (c apidswitch.Counters) {
		for _, c = range sw.Counters() {
			if c.Tenant == "camera" {
				return c
			}
		}
		return c
	}
	before := camera()
	var res []PairedResult
	for _, b := range cfg.Batches {
		r := PairedResult{Batch: b}
		for range cfg.Rounds {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			var fps, cpu [3]float64
			for i := range fps {
				cpuStart := processCPU()
				var stopOn func() error
				if i == 1 {
					if stopOn, err = cfg.On(sw); err != nil {
						return res, err
					}
				}
				f, ferr := Throughput(cfg.Launcher, t, cfg.Frames, b)
				if stopOn != nil {
					ferr = errors.Join(ferr, stopOn())
				}
				if ferr != nil {
					return res, fmt.Errorf("batch %d: %w", b, ferr)
				}
				r.Lost += f.Lost()
				fps[i] = f.FPS
				cpu[i] = float64(processCPU()-cpuStart) / float64(cfg.Frames)
			}
			off := (fps[0] + fps[2]) / 2
			r.OffFPS, r.On = append(r.OffFPS, off), append(r.On, fps[1])
			r.OnOff = append(r.OnOff, fps[1]/off)
			r.AA = append(r.AA, fps[2]/fps[0])
			r.CPUOnOff = append(r.CPUOnOff, cpu[1]/((cpu[0]+cpu[2])/2))
			r.CPUAA = append(r.CPUAA, cpu[2]/cpu[0])
		}
		now := camera()
		r.Dropped = now.DroppedTotal() - before.DroppedTotal()
		var reasons []string
		for code := range now.Dropped {
			if n := now.Dropped[code] - before.Dropped[code]; n > 0 {
				reasons = append(reasons, fmt.Sprintf("%s=%d", frame.ErrorCode(code).String(), n))
			}
		}
		before = now
		res = append(res, r)
		q1, m, q3 := Quartiles(r.OnOff)
		a1, am, a3 := Quartiles(r.AA)
		_, off, _ := Quartiles(r.OffFPS)
		_, on, _ := Quartiles(r.On)
		_, cm, _ := Quartiles(r.CPUOnOff)
		_, ca, _ := Quartiles(r.CPUAA)
		fmt.Fprintf(out, "%-6d %13.0f %13.0f %8.3f %6.3f %8.3f %8.3f %6.3f %8.3f %7.3f %6.3f %6d %8d %s\n", b, off, on, q1, m, q3, a1, am, a3, cm, ca, r.Lost, r.Dropped, strings.Join(reasons, ","))
	}
	return res, nil
}

// processCPU is the CPU time this process has used so far, user and
// system, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
