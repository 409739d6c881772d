package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"syscall"
	"testing"
)

// TestServeSignals: serve calls up once the service is ready, reload on
// SIGHUP (the service keeps running), and on SIGTERM logs "stopping",
// cancels run and returns its result, the service counted up.
func TestServeSignals(t *testing.T) {
	var logs bytes.Buffer // written by serve's goroutine only, read after it returned
	ready, isUp, reloaded := make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	stopped := errors.New("run's own result")
	result := make(chan error, 1)
	var up bool
	go func() {
		var err error
		up, err = service{
			log:    slog.New(slog.NewTextHandler(&logs, nil)),
			prefix: "lan: ",
			run: func(ctx context.Context) error {
				close(ready)
				<-ctx.Done()
				return stopped
			},
			ready:  ready,
			up:     func() error { close(isUp); return nil },
			reload: func() { reloaded <- struct{}{} },
		}.serve(context.Background())
		result <- err
	}()
	<-isUp
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	<-reloaded
	select {
	case err := <-result:
		t.Fatalf("serve returned on SIGHUP: %v", err)
	default:
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-result; err != stopped || !up {
		t.Fatalf("serve = %v, %v; want true, run's result", up, err)
	}
	if l := logs.String(); !strings.Contains(l, `msg="lan: stopping" signal=terminated`) {
		t.Fatalf("log:\n%s", l)
	}
}

// TestServeFailures: run failing before it is ready returns its error
// without up; up failing stops run and returns up's error; neither counts
// the service up.
func TestServeFailures(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	early := errors.New("socket directory refused")
	up, err := service{log: quiet,
		run:   func(context.Context) error { return early },
		ready: make(chan struct{}), // never ready
		up:    func() error { t.Error("up called before ready"); return nil },
	}.serve(context.Background())
	if up || err != early {
		t.Errorf("run failing: serve = %v, %v", up, err)
	}

	metricsErr := errors.New("--metrics-listen: address in use")
	runEnded := make(chan struct{})
	up, err = service{log: quiet,
		run:    func(ctx context.Context) error { <-ctx.Done(); close(runEnded); return nil },
		up:     func() error { return metricsErr },
		reload: func() {},
	}.serve(context.Background())
	if up || err != metricsErr {
		t.Errorf("up failing: serve = %v, %v", up, err)
	}
	select {
	case <-runEnded:
	default:
		t.Error("up failed but run was not stopped and waited for")
	}
}
