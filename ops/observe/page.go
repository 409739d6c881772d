package observe

import (
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"spacenet/apid/policy"
	"spacenet/ops/control"
	"spacenet/ops/topology"
)

var (
	//go:embed page.html
	apidHTML string
	//go:embed lanpage.html
	lanHTML string
	//go:embed common.js.tmpl
	commonJS string // the pages' shared script: {{define "common"}}

	apidTemplate = template.Must(template.Must(template.New("apid").Parse(apidHTML)).Parse(commonJS))
	lanTemplate  = template.Must(template.Must(template.New("lan").Parse(lanHTML)).Parse(commonJS))
)

// pageRow is one tenant's line as the page first shows it.
type pageRow struct {
	Name, APIDs, Connected, Generation, Queue, Reasons string
	Received, Forwarded, Held, Dropped                 uint64
	NoticesLost                                        string
}

// pageEdge is one edge's line as the page first shows it.
type pageEdge struct {
	Key, From, To string
	Frames        uint64
}

// APIDPage is the status page of the metrics address: GET / is an HTML
// page (no external assets) with every tenant's counters, every edge of
// the policy in force with the frames it carried, and the policy's picture
// (package topology, rendered by Graphviz's dot, inline), which its script
// refreshes every second from GET /status.json (the control socket's
// snapshot): rates on the tables, and on the picture's nodes and edges.
func APIDPage(snapshot func() *control.APID) http.Handler {
	var pics pictures
	return page(func() any { return snapshot() }, apidTemplate, func(v any) any {
		s := v.(*control.APID)
		data := struct {
			*control.APID
			Rows         []pageRow
			Edges        []pageEdge
			Picture      template.HTML
			PictureError string
		}{APID: s}
		if pol, err := s.PolicyInForce(); err == nil {
			frames := s.FramesByEdge()
			for _, e := range pol.Edges() {
				k := policy.EdgeKey(e.From, e.To)
				data.Edges = append(data.Edges, pageEdge{Key: k, From: e.From, To: e.To, Frames: frames[k]})
			}
			data.Picture, err = pics.svg(pol)
			if err != nil {
				data.PictureError = err.Error()
			}
		}
		for _, t := range s.Tenants {
			conn := "no"
			if t.Connected {
				conn = "yes"
			}
			data.Rows = append(data.Rows, row(&t, conn, formatUint(t.Generation), formatUint(uint64(t.QueueLen)), formatUint(t.NoticesLost)))
		}
		data.Rows = append(data.Rows, row(&s.Ground, "-", "-", "-", "-"))
		return data
	})
}

// LANPage is the LAN's status page: its ports and MAC table, refreshed as
// APIDPage's.
func LANPage(snapshot func() *control.LAN) http.Handler {
	return page(func() any { return snapshot() }, lanTemplate, func(v any) any {
		s := v.(*control.LAN)
		type portRow struct {
			control.Port
			Locks, Drops string
		}
		type fdbRow struct{ MAC, Port, State string }
		data := struct {
			*control.LAN
			Rows []portRow
			FDB  []fdbRow
		}{LAN: s}
		for _, p := range s.Ports {
			drops := strings.Join(p.Drops(), ", ")
			if p.Failed {
				drops += " FAILED"
			}
			data.Rows = append(data.Rows, portRow{Port: p, Locks: orDash(strings.Join(p.Locks(), " ")), Drops: orDash(drops)})
		}
		for _, e := range s.MACs {
			state := "used " + strconv.FormatFloat(e.AgeSeconds, 'f', 0, 64)
			if e.Locked {
				state = "permanent"
			}
			data.FDB = append(data.FDB, fdbRow{MAC: e.MAC, Port: e.Port, State: state})
		}
		return data
	})
}

// page serves GET / (tmpl executed on data(snapshot())) and GET
// /status.json (the snapshot).
func page(snapshot func() any, tmpl *template.Template, data func(any) any) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(snapshot())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		d := data(snapshot())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
		tmpl.Execute(w, d)
	})
	return mux
}

func row(t *control.Tenant, conn, gen, queue, lost string) pageRow {
	name := t.Name
	if t.Removed {
		name += " (removed)"
	}
	reasons := control.NonZero("", t.Dropped)
	return pageRow{Name: name, APIDs: strings.Join(t.APIDs, ", "), Connected: conn, Generation: gen, Queue: queue,
		Received: t.Received, Forwarded: t.Forwarded(), Held: t.Held, Dropped: t.DroppedTotal, NoticesLost: lost,
		Reasons: orDash(strings.Join(reasons, ", "))}
}

// pictures renders a policy's picture for the page, once per policy: the
// last one is kept.
type pictures struct {
	mu      sync.Mutex
	dot     string
	svgHTML template.HTML
	err     error
}

// svg is pol's picture as inline SVG: every node and edge with a last
// label line the page's script rewrites with its rates, every id
// prefixed "pic-" (the tables' rows have ids too).
func (p *pictures) svg(pol *policy.Policy) (template.HTML, error) {
	notes := map[string]string{topology.Ground: "in - /s, out - /s"}
	for _, t := range pol.Tenants {
		notes[t.Name] = "in - /s, out - /s"
	}
	for _, e := range pol.Edges() {
		notes[policy.EdgeKey(e.From, e.To)] = "- /s"
	}
	var dot strings.Builder
	topology.WriteDOT(&dot, pol, notes)
	p.mu.Lock()
	defer p.mu.Unlock()
	if dot.String() == p.dot {
		return p.svgHTML, p.err
	}
	out, err := topology.SVG([]byte(dot.String()))
	p.dot, p.svgHTML, p.err = dot.String(), "", err
	if err == nil {
		svg := string(out)
		if i := strings.Index(svg, "<svg"); i >= 0 {
			svg = svg[i:] // without the XML declaration and DOCTYPE
		}
		// The SVG is dot's, from names the policy validated: inline it.
		p.svgHTML = template.HTML(strings.ReplaceAll(svg, ` id="`, ` id="pic-`))
	}
	return p.svgHTML, p.err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatUint(v uint64) string { return strconv.FormatUint(v, 10) }
