package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"spacenet/apid/frame"
	"spacenet/apid/sockdir"
)

// parseNumber reads a whole number written in hex with 0x ("0x010") or in
// decimal ("16"). A leading 0 before more digits is refused: Go and C would
// read "010" as octal, a reader might mean ten or 0x010.
func parseNumber(s string, max uint64) (uint64, error) {
	t := strings.TrimSpace(s)
	if h, ok := strings.CutPrefix(strings.ToLower(t), "0x"); ok {
		v, err := strconv.ParseUint(h, 16, 64)
		if err != nil || h == "" || h[0] == '+' {
			return 0, errors.New("want hex digits after 0x")
		}
		if v > max {
			return 0, fmt.Errorf("above the largest, 0x%X", max)
		}
		return v, nil
	}
	if len(t) > 1 && t[0] == '0' {
		dec := strings.TrimLeft(t, "0")
		if dec == "" {
			dec = "0"
		}
		return 0, fmt.Errorf("a leading 0 is ambiguous (octal?): write 0x%s for hex or %s for decimal", t[1:], dec)
	}
	v, err := strconv.ParseUint(t, 10, 64)
	if err != nil || t == "" || t[0] == '+' {
		return 0, errors.New("want hex with 0x (0x010) or decimal (16)")
	}
	if v > max {
		return 0, fmt.Errorf("above the largest, %d (0x%X)", max, max)
	}
	return v, nil
}

// parseAPIDFlag reads the APID given to --flag (a usage error if bad).
func parseAPIDFlag(flag, s string) (frame.APID, error) {
	v, err := parseNumber(s, uint64(frame.MaxAPID))
	if err != nil {
		return 0, usageError("--%s %q: %v", flag, s, err)
	}
	return frame.APID(v), nil
}

// frameTypeNames lists the frame types by name, in type order.
func frameTypeNames() []string {
	names := make([]string, frame.NumTypes)
	for i := range names {
		names[i] = frame.Type(i).String()
	}
	return names
}

// parseTypeFlag reads --type: a type's name or its number.
func parseTypeFlag(s string) (frame.Type, error) {
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		v, err := parseNumber(s, frame.NumTypes-1)
		if err != nil {
			return 0, usageError("--type %q: %v", s, err)
		}
		return frame.Type(v), nil
	}
	t, err := frame.ParseType(s)
	if err != nil {
		return 0, usageError("--type %q: want one of %s, or a number 0 to %d", s, strings.Join(frameTypeNames(), ", "), frame.NumTypes-1)
	}
	return t, nil
}

// completeTenants offers the tenants whose sockets are in --socket-dir.
func completeTenants(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	dir, _ := cmd.Flags().GetString("socket-dir")
	m, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	var names []string
	for _, p := range m {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".sock"))
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// logFormats and logLevels are the values of --log-format and --log-level.
var (
	logFormats = []string{"text", "json"}
	logLevels  = []string{"debug", "info", "warn", "error"}
)

// addLogFlags adds --log-format and --log-level, the same on every
// long-running command, with their completions.
func addLogFlags(cmd *cobra.Command, format, level *string) {
	cmd.Flags().StringVar(format, "log-format", "text", "log format: "+strings.Join(logFormats, " or "))
	cmd.Flags().StringVar(level, "log-level", "info", "log level: "+strings.Join(logLevels, ", "))
	cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions(logFormats, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions(logLevels, cobra.ShellCompDirectiveNoFileComp))
}

// urlUsage is the usage error for a udp://HOST:PORT flag that
// uplink.ParseURL refused, naming the flag instead of the package.
func urlUsage(flag string, err error) error {
	return usageError("--%s %s", flag, strings.TrimPrefix(err.Error(), "uplink: "))
}

// errnoText is the system's words for err's errno ("no such file or
// directory"), without Go's wrapping (dial unix ...: connect: ...).
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}

// unreachable is the error for a failed connection to the switch's socket
// at path: what went wrong in plain words and what to try.
func unreachable(path string, err error) error {
	dir := filepath.Dir(path)
	var why string
	switch {
	case errors.Is(err, syscall.ENOENT):
		why = "no socket there; is the switch running? spacenet run --socket-dir " + dir
	case errors.Is(err, syscall.ECONNREFUSED):
		why = "no switch is listening on it; is the switch running? spacenet run --socket-dir " + dir
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		why = "permission denied; run as the switch's user, or see run --sock-mode"
	default:
		why = errnoText(err)
	}
	return &exitError{code: exitNoSwitch, err: fmt.Errorf("cannot reach the switch at %s: %s", path, why)}
}

// checkNoGuest refuses, with exitConnected, to connect to the socket at
// path while a guest is connected there, unless replace. A socket that is
// not there is left to the dial to report.
func checkNoGuest(path string, replace bool) error {
	if replace {
		return nil
	}
	n, err := sockdir.Connected(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &exitError{code: exitConnected, err: fmt.Errorf("cannot tell whether a guest is connected to %s (%s): give --replace to connect anyway, dropping any guest", path, errnoText(err))}
	}
	if n > 0 {
		return &exitError{code: exitConnected, err: fmt.Errorf("a guest is connected to %s: connecting would drop it (the switch keeps one connection per tenant); give --replace to do so", path)}
	}
	return nil
}
