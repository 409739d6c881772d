package main

import (
	"encoding/json"
	"fmt"
	"io"

	"spacenet/apid/plane"
	"spacenet/internal/logging"
	"spacenet/ip/lan"
	"spacenet/ops/control"
)

// logCounters are the command's own log counters at stop.
type logCounters struct {
	Dropped uint64 `json:"dropped"` // records dropped: the log writer was behind
	Failed  uint64 `json:"failed"`  // records the writer failed to write
}

// finalAPID is the APID switch's counters at stop with --log-format json:
// the document spacenet status --json prints, and the log's counters.
type finalAPID struct {
	*control.APID
	Final bool        `json:"final"` // true: written as the switch stopped
	Log   logCounters `json:"log"`
}

// finalLAN is the LAN's, as spacenet lan status --json prints it.
type finalLAN struct {
	*control.LAN
	Final bool        `json:"final"`
	Log   logCounters `json:"log"`
}

// stopCounters writes the APID plane's counters as it stops: a table
// (plane.Plane.Report and the log's counters), or with --log-format json
// one JSON record on one line, so that whatever reads the JSON log reads
// the end too.
func stopCounters(w io.Writer, format string, p *plane.Plane, logs *logging.Async) {
	if format != "json" {
		p.Report(w)
		fmt.Fprintf(w, "log: dropped=%d failed=%d\n", logs.Dropped(), logs.Failed())
		return
	}
	src := &control.APIDSource{Switch: p.Switch, Downlink: p.Downlink, Uplink: p.Uplink}
	writeJSONLine(w, finalAPID{APID: src.Snapshot(), Final: true, Log: logCounters{logs.Dropped(), logs.Failed()}})
}

// stopLANCounters is stopCounters for the LAN (lan.LAN.Report as text).
func stopLANCounters(w io.Writer, format string, l *lan.LAN, logs *logging.Async) {
	if format != "json" {
		l.Report(w)
		return
	}
	writeJSONLine(w, finalLAN{LAN: control.LANSnapshot(l), Final: true, Log: logCounters{logs.Dropped(), logs.Failed()}})
}

func writeJSONLine(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	w.Write(append(b, '\n'))
}
