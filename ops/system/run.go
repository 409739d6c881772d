package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"spacenet/apid/apidswitch"
	"spacenet/apid/plane"
	"spacenet/ip/lan"
	"spacenet/ops/control"
	"spacenet/ops/observe"
)

// Options are Run's.
type Options struct {
	Logger *slog.Logger // nil: slog.Default()
	// QEMU is the emulator to run; "" means QEMU, looked up in PATH.
	QEMU string
	// StopTimeout is how long a guest's QEMU has to exit after SIGTERM
	// before it is killed; 0 means 5 s.
	StopTimeout time.Duration
	// Stopped, if set, is called once every guest and the APID switch
	// have stopped, with both switches (to report their counters); the
	// LAN, idle by then, closes after it returns.
	Stopped func(p *plane.Plane, l *lan.LAN)
	// Started, if set, is called with each guest's name and QEMU's
	// process id every time it starts one.
	Started func(guest string, pid int)
}

// maxRestartDelay bounds the wait before a guest that keeps dying is
// started again.
const maxRestartDelay = 30 * time.Second

// qbootROM is the firmware every guest boots with (-bios qboot.rom), where
// Debian's qemu-system-data puts it.
const qbootROM = "/usr/share/qemu/qboot.rom"

// Check reports what would stop s from running here: the emulator (qemu,
// "" for QEMU in PATH), its qboot firmware (for QEMU itself), and every
// guest's kernel, initramfs and disk image.
func (s *System) Check(qemu string) error {
	var errs []error
	if _, err := exec.LookPath(cmpOr(qemu, QEMU)); err != nil {
		errs = append(errs, fmt.Errorf("%s: not found (install qemu-system-x86: scripts/deps.sh)", cmpOr(qemu, QEMU)))
	}
	if qemu == "" {
		if _, err := os.Stat(qbootROM); err != nil {
			errs = append(errs, fmt.Errorf("%s: not found: QEMU boots guests with it (install qemu-system-data: scripts/deps.sh)", qbootROM))
		}
	}
	for _, g := range s.Guests {
		for _, f := range []struct{ field, path string }{{"kernel", g.Kernel}, {"initrd", g.Initrd}, {"disk", g.Disk}} {
			if f.path == "" {
				continue
			}
			if _, err := os.Stat(f.path); err != nil {
				errs = append(errs, fmt.Errorf("%s: guest %q: %s: %w", s.Config.Source, g.Name, f.field, err))
			}
		}
	}
	return errors.Join(errs...)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Run brings up s: the APID switch (and its control socket), then the LAN
// (its sockets listening before any QEMU starts: QEMU's -netdev stream
// does not reconnect), then one QEMU per guest, its console appended to
// <log_dir>/<name>.console. A guest whose QEMU exits is started again
// after restart_delay (doubled while it keeps dying within 30 s of its
// start, at most 30 s): a new connection, so the switch counts a new
// generation and IPC callers see ServerDeath for calls in flight. When ctx
// is done, every QEMU gets SIGTERM (SIGKILL after StopTimeout) and is
// waited for, then the LAN and the switch stop; Run returns when nothing
// it started is left. QEMU runs in its own process group (a Ctrl-C on the
// terminal reaches only up, which stops the guests itself) and is killed
// by the kernel if up dies.
func Run(ctx context.Context, s *System, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := s.Check(opts.QEMU); err != nil {
		return err
	}
	if err := os.MkdirAll(s.Config.LogDir, 0o700); err != nil {
		return fmt.Errorf("system: log_dir: %w", err)
	}
	p, err := plane.Open(plane.Config{Switch: apidswitch.Config{Policy: s.Policy, SocketDir: s.Config.SocketDir, Logger: log}})
	if err != nil {
		return err
	}
	defer p.Close()
	sw := p.Switch
	swCtx, swCancel := context.WithCancel(context.Background())
	defer swCancel()
	swDone := make(chan error, 1)
	go func() { swDone <- p.Run(swCtx) }()
	select {
	case <-p.Ready():
	case err := <-swDone:
		return err
	}
	stopSwitch := func() error {
		swCancel()
		return <-swDone
	}
	views, err := observe.APID(&control.APIDSource{Switch: sw}, "", log)
	if err != nil {
		return errors.Join(err, stopSwitch())
	}
	l, err := lan.Open(s.LAN, "", log)
	if err != nil {
		views.Close()
		return errors.Join(err, stopSwitch())
	}
	lanViews, err := observe.LAN(l, s.Config.LANDir, "", log)
	if err != nil {
		views.Close()
		return errors.Join(err, l.Close(), stopSwitch())
	}
	log.Info("up: switches running", "socket_dir", s.Config.SocketDir, "lan", s.LAN.Source, "guests", len(s.Guests))

	var wg sync.WaitGroup
	wg.Go(func() { l.Run(ctx) }) // MAC ageing and pcap flushes, as lan run's
	for i := range s.Guests {
		g := &s.Guests[i]
		wg.Go(func() { s.supervise(ctx, g, &opts, log) })
	}
	<-ctx.Done()
	wg.Wait()
	log.Info("up: guests stopped; stopping the switches")
	lanViews.Close()
	views.Close()
	err = stopSwitch()
	if opts.Stopped != nil {
		opts.Stopped(p, l) // before the LAN closes: its report lists the ports it has
	}
	return errors.Join(err, l.Close())
}

// supervise runs g's QEMU until ctx is done, starting it again when it
// exits.
func (s *System) supervise(ctx context.Context, g *Placed, opts *Options, log *slog.Logger) {
	delay := s.Config.RestartDelay
	timer := time.NewTimer(0)
	defer timer.Stop()
	for start := 1; ; start++ {
		began := time.Now()
		err := s.runGuest(ctx, g, start, opts, log)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) >= maxRestartDelay {
			delay = s.Config.RestartDelay // it ran a while: not a crash loop
		}
		log.Warn("up: guest exited; starting it again", "guest", g.Name, "start", start, "err", err, "ran", time.Since(began).Round(time.Millisecond), "after", delay)
		timer.Reset(delay)
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		delay = min(2*delay, maxRestartDelay) // if it dies again soon
	}
}

// runGuest runs g's QEMU once, until it exits or ctx is done (then it is
// stopped and waited for).
func (s *System) runGuest(ctx context.Context, g *Placed, start int, opts *Options, log *slog.Logger) error {
	path := filepath.Join(s.Config.LogDir, g.Name+".console")
	con, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("system: console: %w", err)
	}
	defer con.Close()
	fmt.Fprintf(con, "=== spacenet up: guest %s, start %d, %s\n", g.Name, start, time.Now().UTC().Format(time.RFC3339))
	cmd := exec.Command(cmpOr(opts.QEMU, QEMU), g.Machine().Args()...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = con, con
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("system: guest %s: %w", g.Name, err)
	}
	log.Info("up: guest started", "guest", g.Name, "pid", cmd.Process.Pid, "start", start, "console", path)
	if opts.Started != nil {
		opts.Started(g.Name, cmd.Process.Pid)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(cmpDuration(opts.StopTimeout, 5*time.Second))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		log.Warn("up: guest did not stop on SIGTERM; killed", "guest", g.Name, "pid", cmd.Process.Pid)
		cmd.Process.Kill()
		<-done
	}
	fmt.Fprintf(con, "=== spacenet up: guest %s stopped\n", g.Name)
	return nil
}

func cmpDuration(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}
	return b
}

// WriteCommands writes, for every guest, a comment naming it and its QEMU
// command line (what --dry-run prints).
func (s *System) WriteCommands(w io.Writer) error {
	for _, g := range s.Guests {
		if _, err := fmt.Fprintf(w, "# guest %s (tenant %s, console %s)\n%s\n", g.Name, g.Tenant,
			filepath.Join(s.Config.LogDir, g.Name+".console"), g.Machine().Command()); err != nil {
			return err
		}
	}
	return nil
}
