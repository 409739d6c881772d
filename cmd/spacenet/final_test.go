package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"spacenet/ops/control"
	"spacenet/ops/control/controltest"
)

// TestBinaryFinalJSON: with --log-format json, run and lan run end with
// their counters as one JSON record on standard output, the document
// status --json prints (the known pattern's exact counts) marked final,
// with the log's counters; every log line is JSON too.
func TestBinaryFinalJSON(t *testing.T) {
	p := startRunPattern(t, "--log-format", "json")
	out := p.stop(syscall.SIGTERM)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("stdout: %d lines, want one JSON record:\n%s", len(lines), out)
	}
	var rec struct {
		control.APID
		Final bool `json:"final"`
		Log   struct {
			Dropped, Failed *uint64
		} `json:"log"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	const sent, spoofed, healths = controltest.Sent, controltest.Spoofed, controltest.Healths
	cam := rec.Tenants[0]
	if !rec.Final || rec.Plane != "apid" || cam.Name != "camera" || cam.Received != sent+spoofed+healths || cam.Delivered != sent ||
		cam.Dropped["Apid_not_allocated"] != spoofed || rec.EdgeFrames("camera", "processor") != sent ||
		rec.Log.Dropped == nil || *rec.Log.Dropped != 0 || rec.Log.Failed == nil {
		t.Errorf("final record %s", lines[0])
	}

	dir := filepath.Join(t.TempDir(), "lan")
	l := spawnLAN(t, "--socket-dir", dir, "--log-format", "json")
	l.waitLog(`"msg":"lan: running"`)
	out = l.stop(syscall.SIGTERM)
	var lanRec struct {
		control.LAN
		Final bool `json:"final"`
	}
	if err := json.Unmarshal([]byte(out), &lanRec); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("lan run: %v\n%s", err, out)
	}
	if !lanRec.Final || lanRec.Plane != "lan" || len(lanRec.Ports) != 3 {
		t.Errorf("lan final record %s", out)
	}
}
