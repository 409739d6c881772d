package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"spacenet/internal/logging"
)

// logFlushTimeout bounds how long a command waits, as it exits, for its
// last log lines to be written: a stderr nobody reads must not hold it up.
const logFlushTimeout = time.Second

// newLogger builds the logger of every long-running command: format and
// level as the --log-format and --log-level flags say, written to w through
// a bounded buffer (logging.Async, started here) so that a stderr nobody
// reads cannot stall the command or the switch. The caller closes the
// Async with CloseWithin(logFlushTimeout) as it exits.
func newLogger(w io.Writer, format, level string) (*slog.Logger, *logging.Async, error) {
	h, err := logging.NewHandler(w, format, level)
	if err != nil {
		// err names the field ("level ..." or "format ..."): name the flag.
		return nil, nil, &exitError{code: exitUsage, err: fmt.Errorf("--log-%w", err)}
	}
	logs := logging.NewAsync(h, 0)
	logs.Start()
	return slog.New(logs), logs, nil
}

// quietLog is the logger of the in-process switch and IPC nodes that
// spacenet demo starts: their logs would only blur its transcript.
var quietLog = slog.New(slog.DiscardHandler)

// service is what `spacenet run` and `spacenet lan run` supervise, each
// its switch: one lifecycle for both.
type service struct {
	log    *slog.Logger
	prefix string // of the "stopping" log line: "" or "lan: "
	// run serves until its context is done (apid/plane.Plane.Run,
	// ip/lan.LAN.Run).
	run func(ctx context.Context) error
	// ready is closed once run serves; nil means at once.
	ready <-chan struct{}
	// up runs once ready is closed, before the signals are read: it
	// starts what shows the service (control socket, metrics) and logs
	// that it runs. Its error stops the service.
	up func() error
	// reload is called on each SIGHUP.
	reload func()
}

// serve runs s until SIGINT or SIGTERM (logged as "stopping"), run failing
// or up failing, calling s.reload on each SIGHUP. The signals are caught
// before run starts, so that one sent as soon as up has logged is not
// lost. up reports whether the service was up when it stopped (its
// counters are worth printing); err is the first failure.
func (s service) serve(ctx context.Context) (up bool, err error) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	if s.ready != nil {
		select {
		case <-s.ready:
		case err := <-done:
			return false, err
		}
	}
	if err := s.up(); err != nil {
		cancel()
		<-done
		return false, err
	}
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				s.reload()
				continue
			}
			s.log.Info(s.prefix+"stopping", "signal", sig.String())
			cancel()
			return true, <-done
		case err := <-done:
			return true, err
		}
	}
}
