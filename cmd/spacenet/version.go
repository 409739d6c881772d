package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// commit is the commit the binary was built from when the go command did
// not stamp one (GOFLAGS=-buildvcs=false, or no git): make build sets it
// with -ldflags "-X main.commit=...".
var commit string

// version says which build this is: the module's version (or "devel"),
// the commit it was built from and its time, "+modified" if the work tree
// had changes, and the Go release, as the go command stamped them.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel (no build information)"
	}
	v := strings.Trim(bi.Main.Version, "()")
	if v == "" {
		v = "devel"
	}
	var rev, when, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+modified"
			}
		}
	}
	if rev == "" && commit != "" {
		rev, modified, when = commit, "", "(set at link time)"
	}
	if rev == "" {
		return fmt.Sprintf("%s (no commit recorded), %s", v, bi.GoVersion)
	}
	return fmt.Sprintf("%s commit %s%s %s, %s", v, rev, modified, when, bi.GoVersion)
}

func init() {
	rootCmd.Version = version()
	rootCmd.SetVersionTemplate("spacenet {{.Version}}\n")
}
