package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium runs headless Chromium with a fresh profile on url and returns
// its standard output; extra are its other flags.
func chromium(t *testing.T, url string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + t.TempDir()}, extra...)
	cmd := exec.CommandContext(ctx, "chromium", append(args, url)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
	}
	return out
}

// TestBinaryStatusPage: the status page on --metrics-listen, loaded in
// headless Chromium after the known pattern, shows every tenant and its
// counters as its script redraws them from status.json (the in/s cells
// say "-" as served, a number once the script has run), every edge of the
// policy with the frames it carried, and the policy's picture (inline SVG
// from dot) whose node and edge labels the script rewrote with rates; and
// a screenshot is written.
func TestBinaryStatusPage(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Skip("chromium not installed (Debian package chromium)")
	}
	_, addr := startRunMetrics(t)
	url := "http://" + addr + "/"
	dom := string(chromium(t, url, "--virtual-time-budget=2500", "--dump-dom"))
	if m := regexp.MustCompile(`<p id="refresh">refreshed (\d+) times`).FindStringSubmatch(dom); m == nil {
		t.Fatalf("the page's script did not refresh:\n%s", dom)
	}
	cells := regexp.MustCompile(`<td[^>]*>([^<]*)</td>`)
	want := map[string]string{
		//           name  APIDs  conn gen queue in/s out/s received forwarded held dropped lost reasons
		"camera":    "camera|0x010-0x01F|yes|1|0|0|0|12|9|0|3|0|Apid_not_allocated=3",
		"processor": "processor|0x020-0x02F|yes|1|0|0|0|2|2|0|0|0|-",
		"spaceos":   "spaceos|0x100-0x2FF|no|0|0|0|0|0|0|0|0|0|-",
		"ground":    "ground|0x7F0|-|-|-|0|0|0|0|0|0|-|-",
	}
	for name, w := range want {
		row := regexp.MustCompile(`<tr id="tenant-` + name + `">(.*?)</tr>`).FindStringSubmatch(dom)
		if row == nil {
			t.Errorf("no row for %s in\n%s", name, dom)
			continue
		}
		var got []string
		for _, c := range cells.FindAllStringSubmatch(row[1], -1) {
			got = append(got, c[1])
		}
		if strings.Join(got, "|") != w {
			t.Errorf("%s:\n got %s\nwant %s", name, strings.Join(got, "|"), w)
		}
	}

	edgeRows := regexp.MustCompile(`<tr id="edge-([^"]*)">(.*?)</tr>`).FindAllStringSubmatch(dom, -1)
	var edges []string
	for _, r := range edgeRows {
		var got []string
		for _, c := range cells.FindAllStringSubmatch(r[2], -1) {
			got = append(got, c[1])
		}
		edges = append(edges, strings.ReplaceAll(r[1], "&gt;", ">")+" "+strings.Join(got, "|"))
	}
	wantEdges := []string{"camera->processor camera|processor|0|7", "camera->spaceos camera|spaceos|0|0", "camera->ground camera|ground|0|0",
		"processor->camera processor|camera|0|0", "processor->spaceos processor|spaceos|0|0", "processor->ground processor|ground|0|0",
		"spaceos->camera spaceos|camera|0|0", "spaceos->processor spaceos|processor|0|0", "spaceos->ground spaceos|ground|0|0",
		"ground->camera ground|camera|0|0", "ground->processor ground|processor|0|0", "ground->spaceos ground|spaceos|0|0"}
	if strings.Join(edges, "\n") != strings.Join(wantEdges, "\n") {
		t.Errorf("edges:\n%s\nwant\n%s", strings.Join(edges, "\n"), strings.Join(wantEdges, "\n"))
	}
	if _, err := exec.LookPath("dot"); err == nil {
		// The picture: a node per tenant and the ground, an edge per edge,
		// each with its rate as the script wrote it.
		texts := func(id string) []string {
			g := regexp.MustCompile(`(?s)<g id="pic-` + regexp.QuoteMeta(id) + `" class="(?:node|edge)">(.*?)</g>`).FindStringSubmatch(dom)
			if g == nil {
				t.Errorf("no %s in the picture", id)
				return nil
			}
			var out []string
			for _, m := range regexp.MustCompile(`<text[^>]*>([^<]*)</text>`).FindAllStringSubmatch(g[1], -1) {
				out = append(out, m[1])
			}
			return out
		}
		for id, want := range map[string]string{
			"tenant-camera":        "camera|0x010-0x01F|in 0 /s, out 0 /s",
			"ground":               "ground|0x7F0|in 0 /s, out 0 /s",
			"camera-&gt;processor": "0 /s",
			"camera-&gt;ground":    "downlink|0 /s",
			"ground-&gt;spaceos":   "0 /s",
		} {
			if got := strings.Join(texts(id), "|"); got != want {
				t.Errorf("picture %s: %q, want %q", id, got, want)
			}
		}
	} else {
		t.Log("dot not installed: the picture is not checked (scripts/deps.sh installs graphviz)")
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	chromium(t, url, "--virtual-time-budget=1500", "--window-size=1280,1100", "--screenshot="+shot)
	b, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n")) || len(b) < 1000 {
		t.Fatalf("screenshot %s: %d bytes, %v", shot, len(b), err)
	}
	if dir := os.Getenv("SPACENET_SCREENSHOT_DIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, "status-page.png"), b, 0o644)
	}
}
