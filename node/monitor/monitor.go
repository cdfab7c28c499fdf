package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// StatusFunc returns a JSON-encodable snapshot of one part of the node.
// It is called on every /status request and must not block for long.
type StatusFunc func() any

// Monitor collects status providers and metrics for one node.
type Monitor struct {
	reg *prometheus.Registry

	mu        sync.RWMutex
	providers map[string]StatusFunc
}

// New returns a monitor with Go runtime, process and host CPU steal
// collectors registered.
func New() *Monitor {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), stealCollector())
	return &Monitor{reg: reg, providers: map[string]StatusFunc{}}
}

// Registry is where the node's parts register their Prometheus collectors.
func (m *Monitor) Registry() prometheus.Registerer { return m.reg }

// Gatherer exposes the metrics for tests and embedding.
func (m *Monitor) Gatherer() prometheus.Gatherer { return m.reg }

// Provide registers (or replaces) the status section name.
func (m *Monitor) Provide(name string, f StatusFunc) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.providers[name] = f
}

// Status returns every section's current snapshot.
func (m *Monitor) Status() map[string]any {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]any, len(m.providers))
	for name, f := range m.providers {
		out[name] = f()
	}
	return out
}

// Handler serves /status, /metrics and a human page at /. Only GET and HEAD
// are allowed: the monitor is read-only by construction.
func (m *Monitor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(m.Status()); err != nil {
			slog.Warn("monitor: encode status", "err", err)
		}
	})
	mux.HandleFunc("GET /{$}", m.page)
	return readOnly(mux)
}

func readOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the monitor is read-only", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

var pageTmpl = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="5"><title>BorgIOS node status</title>
<style>body{font:15px/1.4 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.5rem;border-bottom:1px solid #ddd}
pre{background:#f6f6f6;padding:.75rem;overflow:auto;border-radius:6px}</style></head>
<body><h1>BorgIOS node</h1><p>Read-only. Machine-readable: <a href="status">/status</a> and <a href="metrics">/metrics</a>. Refreshes every 5 s.</p>
{{range .}}<h2>{{.Name}}</h2><pre>{{.JSON}}</pre>{{end}}</body></html>`))

func (m *Monitor) page(w http.ResponseWriter, r *http.Request) {
	type section struct{ Name, JSON string }
	st := m.Status()
	names := make([]string, 0, len(st))
	for n := range st {
		names = append(names, n)
	}
	sort.Strings(names)
	secs := make([]section, 0, len(names))
	for _, n := range names {
		b, _ := json.MarshalIndent(st[n], "", "  ")
		secs = append(secs, section{n, string(b)})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTmpl.Execute(w, secs); err != nil {
		slog.Warn("monitor: render page", "err", err)
	}
}

// Server is a running monitor HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener
	err chan error
}

// Serve starts serving the monitor on addr ("127.0.0.1:0" picks a port).
func (m *Monitor) Serve(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("monitor listen on %s: %w", addr, err)
	}
	s := &Server{
		srv: &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second},
		ln:  ln,
		err: make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.err <- err
	}()
	return s, nil
}

// Addr is the monitor's bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close shuts the server down, waiting for in-flight requests up to ctx.
func (s *Server) Close(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		return err
	}
	return <-s.err
}
