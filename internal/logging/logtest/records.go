package logtest

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// Records is a slog.Handler that hands every record to the channel,
// dropping what does not fit rather than blocking the code that logs. It
// keeps no attributes or groups given through With or WithGroup: only the
// record's own.
type Records chan slog.Record

// Enabled reports true at every level.
func (r Records) Enabled(context.Context, slog.Level) bool { return true }

// WithAttrs returns r, dropping attrs.
func (r Records) WithAttrs([]slog.Attr) slog.Handler { return r }

// WithGroup returns r, dropping the group.
func (r Records) WithGroup(string) slog.Handler { return r }

// Handle sends a copy of rec on r, or drops it when r is full.
func (r Records) Handle(_ context.Context, rec slog.Record) error {
	select {
	case r <- rec.Clone():
	default:
	}
	return nil
}

// Next waits for the next record with message msg, passing over the
// others, and returns its attributes (Attrs); it fails t when none comes
// within timeout.
func (r Records) Next(t testing.TB, msg string, timeout time.Duration) map[string]string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case rec := <-r:
			if rec.Message == msg {
				return Attrs(rec)
			}
		case <-deadline:
			t.Fatalf("no log record %q within %v", msg, timeout)
			return nil
		}
	}
}

// Attrs returns rec's attributes, each value as a string.
func Attrs(rec slog.Record) map[string]string {
	out := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool {
		out[a.Key] = a.Value.String()
		return true
	})
	return out
}
