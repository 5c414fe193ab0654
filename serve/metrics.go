package serve

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/zerocost/zerocost/proxies"
)

// buckets are the upper bounds, in seconds, of the duration histograms:
// from a params count (milliseconds) to grasp on a large model (minutes).
var buckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// histogram counts observations per bucket, Prometheus style (cumulative
// when written).
type histogram struct {
	counts []int64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	n      int64
}

func (h *histogram) observe(v float64) {
	if h.counts == nil {
		h.counts = make([]int64, len(buckets)+1)
	}
	i, _ := slices.BinarySearch(buckets, v)
	h.counts[i]++
	h.sum += v
	h.n++
}

// metrics are the counters behind /metrics, written in the Prometheus text
// format (version 0.0.4) by hand: a handful of counters and histograms do
// not earn a dependency on client_golang and its module graph.
type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]int64   // route, code
	scored   map[[2]string]int64   // source (score, rank), outcome (ok, partial, failed)
	proxy    map[string]*histogram // seconds per proxy
	score    histogram             // seconds per score request's model
}

func newMetrics() *metrics {
	return &metrics{requests: map[[2]string]int64{}, scored: map[[2]string]int64{}, proxy: map[string]*histogram{}}
}

func (m *metrics) request(route string, code int) {
	m.mu.Lock()
	m.requests[[2]string{route, strconv.Itoa(code)}]++
	m.mu.Unlock()
}

// model counts one scored model and its proxies' times. res is nil when
// the model failed as a whole.
func (m *metrics) model(source string, res *proxies.Result, seconds float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	outcome := "ok"
	switch {
	case res == nil:
		outcome = "failed"
	case len(res.Errors) > 0:
		outcome = "partial"
	}
	m.scored[[2]string{source, outcome}]++
	if source == "score" {
		m.score.observe(seconds)
	}
	if res == nil {
		return
	}
	for name, p := range res.Proxies {
		h := m.proxy[name]
		if h == nil {
			h = &histogram{}
			m.proxy[name] = h
		}
		h.observe(p.TimeMS / 1000)
	}
}

// gauge is a value read when /metrics is scraped.
type gauge struct {
	name, help string
	labels     string // `{status="queued"}` or ""
	value      float64
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	running := len(s.slots)
	waiting := max(0, int(s.inflight.Load())-running)
	gauges := []gauge{
		{"zerocost_score_queue_length", "Score requests waiting for a worker.", "", float64(waiting)},
		{"zerocost_score_queue_capacity", "Score requests that may wait before the next is refused with 429.", "", float64(s.cfg.Queue)},
		{"zerocost_score_running", "Score requests being scored now.", "", float64(running)},
		{"zerocost_score_workers", "Score requests scored at once at most.", "", float64(s.cfg.Workers)},
	}
	for _, st := range jobStatuses {
		gauges = append(gauges, gauge{"zerocost_jobs", "Rank jobs by status.", fmt.Sprintf(`{status=%q}`, st), float64(s.jobs.count(st))})
	}
	s.metrics.write(w, gauges)
}

func (m *metrics) write(w io.Writer, gauges []gauge) {
	m.mu.Lock()
	defer m.mu.Unlock()
	header := func(name, kind, help string) { fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind) }

	header("zerocost_http_requests_total", "counter", "HTTP requests by route and status code.")
	for _, k := range slices.SortedFunc(maps.Keys(m.requests), compareKeys) {
		fmt.Fprintf(w, "zerocost_http_requests_total{route=%q,code=%q} %d\n", k[0], k[1], m.requests[k])
	}
	header("zerocost_models_scored_total", "counter", "Models scored by source (score requests, rank jobs) and outcome (ok, partial: some proxies failed, failed).")
	for _, k := range slices.SortedFunc(maps.Keys(m.scored), compareKeys) {
		fmt.Fprintf(w, "zerocost_models_scored_total{source=%q,outcome=%q} %d\n", k[0], k[1], m.scored[k])
	}
	header("zerocost_proxy_seconds", "histogram", "Seconds per proxy and model (ONNX Runtime runs shared by several proxies count in full for each).")
	for _, name := range slices.Sorted(maps.Keys(m.proxy)) {
		writeHistogram(w, "zerocost_proxy_seconds", fmt.Sprintf("proxy=%q", name), m.proxy[name])
	}
	header("zerocost_score_seconds", "histogram", "Seconds to read and score the model of a score request, queue wait excluded.")
	writeHistogram(w, "zerocost_score_seconds", "", &m.score)
	last := ""
	for _, g := range gauges {
		if g.name != last {
			header(g.name, "gauge", g.help)
			last = g.name
		}
		fmt.Fprintf(w, "%s%s %g\n", g.name, g.labels, g.value)
	}
}

func writeHistogram(w io.Writer, name, labels string, h *histogram) {
	sep := ""
	if labels != "" {
		sep = ","
	}
	var cum int64
	for i, ub := range buckets {
		if h.counts != nil {
			cum += h.counts[i]
		}
		fmt.Fprintf(w, "%s_bucket{%s%sle=\"%g\"} %d\n", name, labels, sep, ub, cum)
	}
	fmt.Fprintf(w, "%s_bucket{%s%sle=\"+Inf\"} %d\n", name, labels, sep, h.n)
	braces := ""
	if labels != "" {
		braces = "{" + labels + "}"
	}
	fmt.Fprintf(w, "%s_sum%s %g\n%s_count%s %d\n", name, braces, h.sum, name, braces, h.n)
}

func compareKeys(a, b [2]string) int {
	if c := strings.Compare(a[0], b[0]); c != 0 {
		return c
	}
	return strings.Compare(a[1], b[1])
}
