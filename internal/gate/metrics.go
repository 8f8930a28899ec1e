package gate

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// metrics are the gate's counters, written in the Prometheus text format
// (no client library: a dozen counters do not need one).
type metrics struct {
	mu           sync.Mutex
	requests     map[[2]string]int64 // route, status class → count
	decisions    map[string]int64    // verdict → count (this process)
	scans        map[string]int64    // verdict → count
	scanSeconds  float64
	scansRunning int64
	bytesServed  int64
	started      time.Time
}

func newMetrics() *metrics {
	return &metrics{requests: map[[2]string]int64{}, decisions: map[string]int64{}, scans: map[string]int64{}, started: time.Now()}
}

func (m *metrics) request(route string, status int, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[[2]string{route, fmt.Sprint(status)}]++
}

func (m *metrics) decision(verdict string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.decisions[verdict]++
}

func (m *metrics) scanStarted() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scansRunning++
}

func (m *metrics) scanDone(verdict string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scansRunning--
	m.scans[verdict]++
	m.scanSeconds += d.Seconds()
}

func (m *metrics) served(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bytesServed += n
}

// Scans returns how many scans finished, by verdict (tests and the page).
func (s *Server) Scans() map[string]int64 {
	s.metrics.mu.Lock()
	defer s.metrics.mu.Unlock()
	out := map[string]int64{}
	for k, v := range s.metrics.scans {
		out[k] = v
	}
	return out
}

func (s *Server) writeMetrics(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	stats, err := s.cfg.Store.Stats(ctx)
	m := s.metrics
	m.mu.Lock()
	var b strings.Builder
	b.WriteString("# HELP modelgate_gate_requests_total HTTP requests answered, by route and status code.\n# TYPE modelgate_gate_requests_total counter\n")
	keys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		fmt.Fprintf(&b, "modelgate_gate_requests_total{route=%q,code=%q} %d\n", k[0], k[1], m.requests[k])
	}
	b.WriteString("# HELP modelgate_gate_decisions_total File requests decided by this process, by decision.\n# TYPE modelgate_gate_decisions_total counter\n")
	writeMap(&b, "modelgate_gate_decisions_total", "decision", m.decisions)
	b.WriteString("# HELP modelgate_gate_scans_total Scans finished by this process, by verdict.\n# TYPE modelgate_gate_scans_total counter\n")
	writeMap(&b, "modelgate_gate_scans_total", "verdict", m.scans)
	fmt.Fprintf(&b, "# HELP modelgate_gate_scan_seconds_total Time spent scanning.\n# TYPE modelgate_gate_scan_seconds_total counter\nmodelgate_gate_scan_seconds_total %g\n", m.scanSeconds)
	fmt.Fprintf(&b, "# HELP modelgate_gate_scans_in_progress Scans running now.\n# TYPE modelgate_gate_scans_in_progress gauge\nmodelgate_gate_scans_in_progress %d\n", m.scansRunning)
	fmt.Fprintf(&b, "# HELP modelgate_gate_served_bytes_total File bytes sent to clients.\n# TYPE modelgate_gate_served_bytes_total counter\nmodelgate_gate_served_bytes_total %d\n", m.bytesServed)
	fmt.Fprintf(&b, "# HELP modelgate_gate_upstream_bytes_total Bytes received from the upstream Hub.\n# TYPE modelgate_gate_upstream_bytes_total counter\nmodelgate_gate_upstream_bytes_total %d\n", s.cfg.Upstream.Received())
	fmt.Fprintf(&b, "# HELP modelgate_gate_start_time_seconds Start time of the process.\n# TYPE modelgate_gate_start_time_seconds gauge\nmodelgate_gate_start_time_seconds %d\n", m.started.Unix())
	m.mu.Unlock()
	if err == nil {
		b.WriteString("# HELP modelgate_gate_audit_records Audit log records in the store, by decision.\n# TYPE modelgate_gate_audit_records gauge\n")
		writeMap(&b, "modelgate_gate_audit_records", "decision", stats.Decisions)
		b.WriteString("# HELP modelgate_gate_verdicts Remembered scan verdicts in the store.\n# TYPE modelgate_gate_verdicts gauge\n")
		writeMap(&b, "modelgate_gate_verdicts", "verdict", stats.Verdicts)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

func writeMap(b *strings.Builder, name, label string, m map[string]int64) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "%s{%s=%q} %d\n", name, label, k, m[k])
	}
}
