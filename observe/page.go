package observe

import (
	_ "embed"
	"encoding/json"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"spacenet/control"
)

//go:embed page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page").Parse(pageHTML))

// pageRow is one tenant's line as the page first shows it.
type pageRow struct {
	Name, APIDs, Connected, Generation, Queue, Reasons string
	Received, Forwarded, Held, Dropped                 uint64
	NoticesLost                                        string
}

// APIDPage is the status page of the metrics address: GET / is an HTML
// page (no external assets) with every tenant's counters, which its script
// refreshes every second from GET /status.json (the control socket's
// snapshot).
func APIDPage(snapshot func() *control.APID) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(snapshot())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := snapshot()
		data := struct {
			SocketDir, Policy string
			Time              time.Time
			Rows              []pageRow
		}{SocketDir: s.SocketDir, Policy: s.Policy, Time: s.Time}
		for _, t := range s.Tenants {
			conn := "no"
			if t.Connected {
				conn = "yes"
			}
			data.Rows = append(data.Rows, row(&t, conn, formatUint(t.Generation), formatUint(uint64(t.QueueLen)), formatUint(t.NoticesLost)))
		}
		data.Rows = append(data.Rows, row(&s.Ground, "-", "-", "-", "-"))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
		pageTemplate.Execute(w, data)
	})
	return mux
}

func row(t *control.Tenant, conn, gen, queue, lost string) pageRow {
	name := t.Name
	if t.Removed {
		name += " (removed)"
	}
	var reasons []string
	for _, k := range slices.Sorted(maps.Keys(t.Dropped)) {
		if t.Dropped[k] > 0 {
			reasons = append(reasons, k+"="+formatUint(t.Dropped[k]))
		}
	}
	return pageRow{Name: name, APIDs: strings.Join(t.APIDs, ", "), Connected: conn, Generation: gen, Queue: queue,
		Received: t.Received, Forwarded: t.Forwarded(), Held: t.Held, Dropped: t.DroppedTotal, NoticesLost: lost,
		Reasons: orDash(strings.Join(reasons, ", "))}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatUint(v uint64) string { return strconv.FormatUint(v, 10) }
