package shard

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	stored, served, deleted, corrupt, repairs, passes, busy prometheus.Counter
	refused, audits                                         *prometheus.CounterVec
	passSeconds                                             prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "borgios_shard_" + name, Help: help})
	}
	m := &metrics{
		stored:      c("stored_total", "Shards accepted by this holder."),
		served:      c("served_total", "Shard reads served (hashes are checked at store time and by the scrub)."),
		deleted:     c("deletes_total", "Owner deletes applied."),
		corrupt:     c("corrupt_total", "Local copies that failed their hash check and were dropped."),
		repairs:     c("repairs_total", "Copies this node pushed to holders lacking them."),
		passes:      c("scrub_passes_total", "Scrub passes completed."),
		busy:        c("busy_total", "Reads turned away at the concurrent-read limit (redirected)."),
		refused:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "borgios_shard_refused_total", Help: "Requests refused, by code."}, []string{"code"}),
		audits:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "borgios_shard_audits_total", Help: "Storage proofs asked of co-holders, by result."}, []string{"result"}),
		passSeconds: prometheus.NewGauge(prometheus.GaugeOpts{Name: "borgios_shard_scrub_pass_seconds", Help: "Duration of the last scrub pass."}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{m.stored, m.served, m.deleted, m.corrupt, m.repairs, m.passes, m.busy, m.refused, m.audits, m.passSeconds} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
