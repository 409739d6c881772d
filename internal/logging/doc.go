// Package logging keeps logs off the forwarding path. Async is a
// slog.Handler that hands each record to one goroutine through a bounded
// buffer, so that a slow or stuck log writer (stderr on a pipe nobody reads)
// never blocks the caller: a record that does not fit is dropped and counted,
// and the count is reported on the next line written. Limiter thins a
// per-frame log line to a few a second per (tenant, reason), with a count of
// the lines it suppressed, in fixed memory whatever the input.
//
// It is not a log format or a sink: records are formatted and written by the
// slog.Handler that Async wraps (NewHandler builds the text or JSON one the
// command line asks for). Nor does it count frames: the counters of the
// packages that log stay the record of every frame.
package logging
