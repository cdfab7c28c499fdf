package netclient

import (
	"encoding/hex"
	"sort"
	"time"
)

// Modes a pool reaches the network in.
const (
	ModeRemote   = "remote nodes"
	ModeEmbedded = "embedded node"
)

// EndpointStatus is one endpoint as the Network page shows it.
type EndpointStatus struct {
	Key       string   `json:"key"`
	Addr      string   `json:"addr"`
	Cells     []string `json:"cells"`
	LatencyMs float64  `json:"latency_ms"` // EWMA; 0 until measured
	OK        int64    `json:"ok"`
	Errors    int64    `json:"errors"`
	Failures  int      `json:"consecutive_failures"`
	Down      bool     `json:"down"`
	Bootstrap bool     `json:"bootstrap,omitempty"`
	LastError string   `json:"last_error,omitempty"`
	// InUse lists the cells for which this endpoint is the one Do tries
	// first: where this conduit's requests go right now.
	InUse []string `json:"in_use,omitempty"`
	// Traffic is what this conduit exchanged with the endpoint.
	Traffic
}

// Status is a snapshot of the pool, answered from memory.
type Status struct {
	Mode    string `json:"mode"`
	Network string `json:"network"`
	// Live counts the endpoints up per cell type.
	Live         map[string]int   `json:"live"`
	Endpoints    []EndpointStatus `json:"endpoints"`
	LastRefresh  time.Time        `json:"last_refresh,omitzero"`
	RefreshError string           `json:"refresh_error,omitempty"`
	// Clock is the last measured offset to network time; nil before the
	// first measurement.
	Clock *ClockOffset `json:"clock,omitempty"`
}

// Status returns the endpoints per cell and their scores.
func (p *Pool) Status() Status {
	mode := ModeRemote
	if p.embedded != nil {
		mode = ModeEmbedded
	}
	// The endpoint each cell's calls go to first, asked before taking the
	// lock (candidates takes it too).
	inUse := map[string][]string{}
	for _, c := range p.cellNames() {
		if t, ok := p.Best(c); ok {
			inUse[string(t.Key)] = append(inUse[string(t.Key)], c)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	st := Status{Mode: mode, Network: p.cfg.Network, Live: map[string]int{}, LastRefresh: p.lastSync, RefreshError: p.lastErr}
	if p.clock != nil {
		c := *p.clock
		st.Clock = &c
	}
	for _, ep := range p.endpoints {
		es := EndpointStatus{
			Key: hex.EncodeToString(ep.target.Key), Addr: ep.target.Addr,
			LatencyMs: float64(ep.ewma.Microseconds()) / 1000, OK: ep.oks, Errors: ep.errs,
			Failures: ep.fails, Down: ep.isDown(now), Bootstrap: ep.bootstrap, LastError: ep.lastErr,
			Traffic: p.traffic.get(string(ep.target.Key)),
		}
		if u := inUse[string(ep.target.Key)]; len(u) > 0 {
			es.InUse = u
			sort.Strings(es.InUse)
		}
		for c := range ep.cells {
			es.Cells = append(es.Cells, c)
			if !es.Down {
				st.Live[c]++
			}
		}
		sort.Strings(es.Cells)
		st.Endpoints = append(st.Endpoints, es)
	}
	sort.Slice(st.Endpoints, func(i, j int) bool { return st.Endpoints[i].Key < st.Endpoints[j].Key })
	return st
}

// cellNames are the cell types any endpoint serves.
func (p *Pool) cellNames() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, ep := range p.endpoints {
		for c := range ep.cells {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	sort.Strings(out)
	return out
}
