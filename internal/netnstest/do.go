package netnstest

import "spacenet/internal/netnsdo"

// Do runs fn on a thread inside network namespace ns ("" for the caller's):
// sockets fn creates belong to ns and stay usable from any goroutine
// afterwards (package netnsdo).
func Do(ns string, fn func() error) error { return netnsdo.Do(ns, fn) }
