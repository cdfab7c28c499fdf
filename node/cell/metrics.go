package cell

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/borgios/borgios/node/peertree"
)

// Metrics are the Prometheus collectors all cells of a node share, each
// series labelled by cell.
type Metrics struct {
	treeMessages *prometheus.CounterVec
	treeDropped  *prometheus.CounterVec
	requests     *prometheus.CounterVec
	position     *prometheus.GaugeVec
	size         *prometheus.GaugeVec
	epoch        *prometheus.GaugeVec
	delivered    *prometheus.CounterVec
}

// NewMetrics registers the cell metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		treeMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "borgios_cell_tree_messages_total", Help: "Tree protocol messages by cell, direction and kind.",
		}, []string{"cell", "direction", "kind"}),
		treeDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "borgios_cell_tree_dropped_total", Help: "Incoming tree messages dropped, by cell and reason.",
		}, []string{"cell", "reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "borgios_cell_requests_total", Help: "Receptor requests by cell, kind and result code.",
		}, []string{"cell", "kind", "code"}),
		position: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "borgios_cell_tree_position", Help: "This node's position in the cell's tree (1 = root, 0 = not placed).",
		}, []string{"cell"}),
		size: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "borgios_cell_tree_size", Help: "Members of the cell's tree as this node knows it.",
		}, []string{"cell"}),
		epoch: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "borgios_cell_tree_epoch", Help: "Membership epoch of the cell's tree (term<<32 | seq).",
		}, []string{"cell"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "borgios_cell_broadcasts_delivered_total", Help: "Broadcasts delivered to this node, by cell.",
		}, []string{"cell"}),
	}
	reg.MustRegister(m.treeMessages, m.treeDropped, m.requests, m.position, m.size, m.epoch, m.delivered)
	return m
}

// stats counts one cell's activity for /status and feeds the shared
// Prometheus collectors.
type stats struct {
	cell string
	m    *Metrics

	requests, requestErrors atomic.Int64
	delivered               atomic.Int64
	rejected                atomic.Int64
	sendDropped, sendFailed atomic.Int64
	treeMsgsIn, treeMsgsOut atomic.Int64
	broadcastsIn            atomic.Int64
}

func (s *stats) init(m *Metrics, cell string) { s.m, s.cell = m, cell }

func (s *stats) treeIn(k peertree.Kind) {
	s.treeMsgsIn.Add(1)
	if k == peertree.KindBroadcast {
		s.broadcastsIn.Add(1)
	}
	if s.m != nil {
		s.m.treeMessages.WithLabelValues(s.cell, "in", k.String()).Inc()
	}
}

func (s *stats) treeOut(k peertree.Kind) {
	s.treeMsgsOut.Add(1)
	if s.m != nil {
		s.m.treeMessages.WithLabelValues(s.cell, "out", k.String()).Inc()
	}
}

func (s *stats) treeDropped(reason string) {
	if s.m != nil {
		s.m.treeDropped.WithLabelValues(s.cell, reason).Inc()
	}
}

func (s *stats) request(kind string, code Code) {
	s.requests.Add(1)
	if code != "" {
		s.requestErrors.Add(1)
	} else {
		code = "ok"
	}
	if s.m != nil {
		s.m.requests.WithLabelValues(s.cell, kind, string(code)).Inc()
	}
}

func (s *stats) setView(v *View) {
	if s.m == nil {
		return
	}
	s.m.position.WithLabelValues(s.cell).Set(float64(v.Position))
	s.m.size.WithLabelValues(s.cell).Set(float64(v.Size))
	s.m.epoch.WithLabelValues(s.cell).Set(float64(v.epoch))
}

// Status is a cell's monitor section.
type Status struct {
	View
	Requests        int64 `json:"requests"`
	RequestErrors   int64 `json:"request_errors"`
	BroadcastsIn    int64 `json:"broadcast_messages_received"`
	Delivered       int64 `json:"broadcasts_delivered"`
	Rejected        int64 `json:"tree_messages_rejected"`
	TreeMessagesIn  int64 `json:"tree_messages_in"`
	TreeMessagesOut int64 `json:"tree_messages_out"`
	SendsDropped    int64 `json:"sends_dropped"`
	SendsFailed     int64 `json:"sends_failed"`
	// RecentBroadcasts counts copies received and deliveries of the last
	// broadcasts, newest first.
	RecentBroadcasts []BroadcastStat `json:"recent_broadcasts"`
	Extra            any             `json:"extra,omitempty"`
}

// Status returns the cell's monitor section.
func (r *Runtime) Status() Status {
	st := Status{
		View:             r.View(),
		Requests:         r.stats.requests.Load(),
		RequestErrors:    r.stats.requestErrors.Load(),
		BroadcastsIn:     r.stats.broadcastsIn.Load(),
		Delivered:        r.stats.delivered.Load(),
		Rejected:         r.stats.rejected.Load(),
		TreeMessagesIn:   r.stats.treeMsgsIn.Load(),
		TreeMessagesOut:  r.stats.treeMsgsOut.Load(),
		SendsDropped:     r.stats.sendDropped.Load(),
		SendsFailed:      r.stats.sendFailed.Load(),
		RecentBroadcasts: r.recent.list(),
	}
	if r.typ.Status != nil {
		st.Extra = r.typ.Status()
	}
	return st
}
