package metricsbench

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/apid/apidswitch"
	"spacenet/apid/apidswitch/switchbench"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunSmoke: both sides run, scraping during the "on" rounds, and a
// row per batch carries both figures and their ratio.
func TestRunSmoke(t *testing.T) {
	var out bytes.Buffer
	err := Run(context.Background(), Options{InProcess: switchbench.InProcess{Frames: 4000, Batches: []int{16, 256}, Window: 512, Rounds: 1, Dir: t.TempDir(), Out: &out}, Scrape: time.Millisecond})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "APID switch, Prometheus endpoint off vs on (GET /metrics every 1ms)") {
		t.Fatalf("output:\n%s", out.String())
	}
	for i, b := range []string{"16", "256"} {
		if f := strings.Fields(lines[3+i]); len(f) != 4 || f[0] != b || f[1] == "0" || f[2] == "0" {
			t.Errorf("line %q", lines[3+i])
		}
	}
}

// TestScraperScrapesAtOnce: a scraper scrapes once as it starts, however
// long its interval, and stop reports that scrape's success and closes the
// endpoint (goleak checks its goroutines are gone).
func TestScraperScrapesAtOnce(t *testing.T) {
	sw, stop, err := switchbench.Start(context.Background(), apidswitch.Config{SocketDir: filepath.Join(t.TempDir(), "s")})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	stopScraper, err := StartScraper(sw, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := stopScraper(); err != nil {
		t.Fatalf("a healthy endpoint's scrape failed: %v", err)
	}
}
