package logging

import (
	"fmt"
	"io"
	"log/slog"
)

// NewHandler returns the slog handler that writes records of level and
// above to w in format: "text" (slog.TextHandler) or "json"
// (slog.JSONHandler). level is a slog level name: debug, info, warn or
// error. The error names the field that is wrong. The handler writes
// synchronously: put it behind an Async.
func NewHandler(w io.Writer, format, level string) (slog.Handler, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.NewTextHandler(w, opts), nil
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, fmt.Errorf("format %q: want text or json", format)
}
