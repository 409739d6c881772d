package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// TestWatchJSONFormatsOnce: watchJSON asks the renderer for JSON Lines
// and writes what it wrote as it is, once per interval (fake time), not
// an indented document compacted again.
func TestWatchJSONFormatsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var forms []outputForm
		var at []time.Duration
		start := time.Now()
		render := func(w io.Writer, _ string, prev any, form outputForm) (any, error) {
			if prev != nil {
				t.Errorf("call %d: prev %v; want none", len(forms)+1, prev)
			}
			forms = append(forms, form)
			at = append(at, time.Since(start))
			_, err := fmt.Fprintf(w, "{\"n\": %d}\n", len(forms)) // not compact: written as it is
			return nil, err
		}
		var out bytes.Buffer
		if err := watchJSON(context.Background(), &out, "unused", render, time.Second, 3); err != nil {
			t.Fatal(err)
		}
		if want := []outputForm{asJSONLine, asJSONLine, asJSONLine}; !slices.Equal(forms, want) {
			t.Errorf("forms %v; want %v", forms, want)
		}
		if want := []time.Duration{0, time.Second, 2 * time.Second}; !slices.Equal(at, want) {
			t.Errorf("rendered at %v; want %v", at, want)
		}
		if got, want := out.String(), "{\"n\": 1}\n{\"n\": 2}\n{\"n\": 3}\n"; got != want {
			t.Errorf("output %q; want %q", got, want)
		}
	})
}

// TestWriteJSONLine: a JSON line is the indented document compacted, byte
// for byte, as watchJSON wrote before it formatted once.
func TestWriteJSONLine(t *testing.T) {
	v := map[string]any{"plane": "apid", "tenants": []any{map[string]any{"name": "a<b", "received": 3}}, "edges": []any{}}
	var indented, compacted, line bytes.Buffer
	if err := writeJSON(&indented, v, "  "); err != nil {
		t.Fatal(err)
	}
	if err := json.Compact(&compacted, indented.Bytes()); err != nil {
		t.Fatal(err)
	}
	compacted.WriteByte('\n')
	if err := writeJSON(&line, v, ""); err != nil {
		t.Fatal(err)
	}
	if line.String() != compacted.String() {
		t.Errorf("line %q; want %q", line.String(), compacted.String())
	}
}
