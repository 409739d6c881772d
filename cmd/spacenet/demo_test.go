package main

import (
	"bytes"
	"context"
	"testing"
)

// TestDemo runs `spacenet demo` in-process (its own switch, real sockets)
// and checks its whole, deterministic output.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	demoCmd.SetOut(&out)
	demoCmd.SetContext(context.Background())
	t.Cleanup(func() { demoCmd.SetOut(nil) })
	if err := runDemo(demoCmd, nil); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	want := `switch:    started in-process, v0 topology, one socket per tenant
camera:    connected, serves Camera on APID 0x010 (capture restricted to processor)
processor: connected, calls from APID 0x020
processor -> camera  set_mode(Science)           ok
processor -> camera  capture(2000 us)            frame 1
processor -> camera  read_image(1, off      0)    65536 bytes through a 65536-byte write lease (reply: 281 frames)
processor -> camera  read_image(1, off  65536)    34464 bytes through a 34464-byte write lease (reply: 148 frames)
processor:           all 100000 image bytes checked
processor -> camera  status()                    mode Science, 1 frame(s), -12.5 C
spaceos   -> camera  capture(2000 us)            refused: ipc: AccessViolation (caller from source APID 0x100)
totals:    processor made 5 calls, got 5 replies; camera served 5, denied 1
switch:    camera    generation 1, 434 frames received, 0 dropped
switch:    processor generation 1, 6 frames received, 0 dropped
switch:    spaceos   generation 1, 2 frames received, 0 dropped
`
	if got := out.String(); got != want {
		t.Fatalf("demo output\n got:\n%s\nwant:\n%s", got, want)
	}
}
