package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"spacenet/ops/control/controltest"
)

// startRunMetrics starts `spacenet run --metrics-listen 127.0.0.1:0`, plays
// the known pattern and returns the metrics address.
func startRunMetrics(t *testing.T) (p *switchProc, addr string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "s")
	p = spawnProc(t, []string{"run", "--socket-dir", dir, "--metrics-listen", "127.0.0.1:0"}, nil)
	p.dir = dir
	line := p.waitLog("metrics listening")
	_, addr, _ = strings.Cut(line, "addr=")
	for range 3 {
		p.waitLog("tenant socket")
	}
	g, err := controltest.Run(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return p, strings.TrimSpace(addr)
}

func httpGet(t *testing.T, u string) []byte {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v\n%s", u, resp.StatusCode, err, b)
	}
	return b
}

// theMetrics are the samples the known pattern must leave (ground and the
// zero drop reasons aside).
var theMetrics = map[string]float64{
	`spacenet_apid_frames_total{direction="in",tenant="camera"}`:                  controltest.Sent + controltest.Spoofed + controltest.Healths,
	`spacenet_apid_frames_total{direction="out",tenant="camera"}`:                 controltest.Sent + controltest.Healths,
	`spacenet_apid_frames_total{direction="in",tenant="processor"}`:               controltest.Healths,
	`spacenet_apid_forwarded_total{tenant="camera",to="tenant"}`:                  controltest.Sent,
	`spacenet_apid_dropped_total{reason="apid_not_allocated",tenant="camera"}`:    controltest.Spoofed,
	`spacenet_apid_dropped_total{reason="apid_not_allocated",tenant="processor"}`: 0,
	`spacenet_apid_notices_total{outcome="queued",tenant="camera"}`:               controltest.Spoofed + controltest.Healths,
	`spacenet_apid_connected{tenant="processor"}`:                                 1,
	`spacenet_apid_connected{tenant="spaceos"}`:                                   0,
	`spacenet_apid_connections_total{tenant="camera"}`:                            1,
	`spacenet_apid_frames_total{direction="in",tenant="ground"}`:                  0,
	`spacenet_apid_edge_frames_total{from="camera",to="processor"}`:               controltest.Sent,
}

// TestBinaryMetricsText: /metrics has the pattern's values, and promtool
// finds nothing to say about it.
func TestBinaryMetricsText(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not installed (scripts/deps.sh installs Debian's prometheus)")
	}
	_, addr := startRunMetrics(t)
	body := httpGet(t, "http://"+addr+"/metrics")
	got := map[string]string{}
	for _, l := range strings.Split(string(body), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok && !strings.HasPrefix(l, "#") {
			got[k] = v
		}
	}
	for k, v := range theMetrics {
		if got[k] != fmt.Sprint(v) {
			t.Errorf("%s = %q, want %v", k, got[k], v)
		}
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// freePort returns a loopback port nothing listened on a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestBinaryPrometheus: a real Prometheus server scrapes --metrics-listen
// every second, and its query API returns the pattern's values.
func TestBinaryPrometheus(t *testing.T) {
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Skip("prometheus not installed (scripts/deps.sh installs Debian's prometheus)")
	}
	_, addr := startRunMetrics(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: spacenet\n    static_configs:\n      - targets: ['%s']\n", addr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	web := freePort(t)
	prom := exec.Command("prometheus", "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+web, "--log.level=warn")
	var promLog bytes.Buffer
	prom.Stdout, prom.Stderr = &promLog, &promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		prom.Process.Signal(os.Interrupt)
		prom.Wait()
	}()

	// Ask until the first scrape is stored (Prometheus has no event to wait
	// on from outside); the bound is the test's.
	var got map[string]float64
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for got == nil {
		select {
		case <-deadline:
			t.Fatalf("Prometheus had no spacenet samples after 15 s; its log:\n%s", promLog.String())
		case <-tick.C:
		}
		got = query(t, web, `{__name__=~"spacenet_apid_.*"}`)
	}
	for k, v := range theMetrics {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("Prometheus: %s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// query asks Prometheus's HTTP API at web for an instant vector and returns
// its samples by series (name and labels, without job and instance), or
// nil if there are none yet.
func query(t *testing.T, web, q string) map[string]float64 {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + web + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil // not listening yet
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %+v", q, err, r)
	}
	if len(r.Data.Result) == 0 {
		return nil
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		var labels []string
		for k, v := range s.Metric {
			if k != "__name__" && k != "job" && k != "instance" {
				labels = append(labels, fmt.Sprintf("%s=%q", k, v))
			}
		}
		sort.Strings(labels)
		var v float64
		fmt.Sscan(fmt.Sprint(s.Value[1]), &v)
		out[s.Metric["__name__"]+"{"+strings.Join(labels, ",")+"}"] = v
	}
	return out
}

// TestBinaryBenchMetrics: bench switch --metrics runs both sides, scraping
// during every "on" round (a failed scrape fails the run), and prints a
// ratio per batch size. The figures themselves are not asserted: this
// machine is shared.
func TestBinaryBenchMetrics(t *testing.T) {
	out, code := spacenet(t, nil, "bench", "switch", "--metrics", "--frames", "20000", "--rounds", "1", "--batches", "16,256", "--scrape", "1ms")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 5 || !strings.HasPrefix(lines[0], "APID switch, Prometheus endpoint off vs on (GET /metrics every 1ms)") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for i, b := range []string{"16", "256"} {
		f := strings.Fields(lines[3+i])
		if len(f) != 4 || f[0] != b || f[1] == "0" || f[2] == "0" {
			t.Errorf("line %q", lines[3+i])
		}
	}
}

// TestBinaryMetricsListenUsage: a --metrics-listen that is not HOST:PORT
// is a usage error naming the flag, on both switches, before anything
// starts; an address in use fails the run (status 1).
func TestBinaryMetricsListenUsage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	for _, args := range [][]string{
		{"run", "--socket-dir", dir, "--metrics-listen", "9464"},
		{"run", "--socket-dir", dir, "--metrics-listen", "127.0.0.1:99999"},
		{"lan", "run", "--socket-dir", dir, "--metrics-listen", "localhost:http"},
	} {
		out, code := spacenet(t, nil, args...)
		if code != exitUsage || !strings.Contains(out, "--metrics-listen ") || !strings.Contains(out, "want HOST:PORT") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a usage error made the socket directory: %v", err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	out, code := spacenet(t, nil, "run", "--socket-dir", dir, "--metrics-listen", busy.Addr().String())
	if code != exitFailure || !strings.Contains(out, "--metrics-listen "+busy.Addr().String()) {
		t.Errorf("address in use: exit %d\n%s", code, out)
	}
}
