package main

import (
	"context"
	"log/slog"

	"spacenet/apidswitch"
)

// quietLog is the logger of the in-process switches and IPC nodes that the
// bench and demo commands start: their logs would only blur the figures.
var quietLog = slog.New(slog.DiscardHandler)

// startSwitch makes an APID switch with cfg, runs it in a goroutine until
// ctx ends or stop is called, and returns once it is ready. stop ends the
// switch and waits for its Run to return.
func startSwitch(ctx context.Context, cfg apidswitch.Config) (sw *apidswitch.Switch, stop func(), err error) {
	sw, err = apidswitch.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()
	select {
	case <-sw.Ready():
		return sw, func() { cancel(); <-done }, nil
	case err := <-done:
		cancel()
		return nil, nil, err
	}
}
