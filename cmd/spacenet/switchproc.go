package main

import (
	"context"
	"log/slog"

	"spacenet/apid/apidswitch"
	"spacenet/apid/apidswitch/switchbench"
)

// quietLog is the logger of the in-process switches and IPC nodes that the
// bench and demo commands start: their logs would only blur the figures.
var quietLog = slog.New(slog.DiscardHandler)

// startSwitch makes an APID switch with cfg, runs it in a goroutine until
// ctx ends or stop is called, and returns once it is ready. stop ends the
// switch and waits for its Run to return.
func startSwitch(ctx context.Context, cfg apidswitch.Config) (sw *apidswitch.Switch, stop func(), err error) {
	return switchbench.Start(ctx, cfg)
}
