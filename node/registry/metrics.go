package registry

import "github.com/prometheus/client_golang/prometheus"

// metrics are the registry's Prometheus collectors; nil when the
// constructor got no Registerer. No series is labelled by cell name: those
// come from entries anyone can sign and would let them grow the series set.
type metrics struct {
	entries   prometheus.Gauge
	accepted  prometheus.Counter
	refused   *prometheus.CounterVec
	expired   prometheus.Counter
	published prometheus.Counter
	syncs     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		entries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "borgios_registry_entries", Help: "Verified, unexpired node entries held.",
		}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "borgios_registry_entries_accepted_total", Help: "Entries accepted (new node or newer sequence).",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "borgios_registry_entries_refused_total", Help: "Entries refused, by reason (duplicate is the benign one).",
		}, []string{"reason"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "borgios_registry_entries_expired_total", Help: "Entries dropped because they expired or their node was seen dead.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "borgios_registry_published_total", Help: "Own entries signed and broadcast.",
		}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "borgios_registry_syncs_total", Help: "Catch-up dumps fetched from a tree neighbour, by result.",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.entries, m.accepted, m.refused, m.expired, m.published, m.syncs} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
