package netclock

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	exchanges *prometheus.CounterVec
	answers   prometheus.Counter
}

// newMetrics registers the crono collectors. Gauges are read from the clock
// at scrape time, so they cost nothing between scrapes.
func newMetrics(reg prometheus.Registerer, s *Service) (*metrics, error) {
	m := &metrics{
		exchanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "borgios_crono_exchanges_total",
			Help: "Time exchanges with the parent by result: accepted, filtered (clock filter rejected a delayed sample), parent-unsynced, stale, too-late, invalid, refused, bad-answer, unavailable, resync.",
		}, []string{"result"}),
		answers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "borgios_crono_answers_total",
			Help: "Time requests this node answered for its children.",
		}),
	}
	gauge := func(name, help string, f func(Status) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(s.Status()) })
	}
	cs := []prometheus.Collector{
		m.exchanges, m.answers,
		gauge("borgios_crono_offset_seconds", "Last measured offset of the parent's time from ours, before correction.",
			func(st Status) float64 { return st.OffsetMs / 1e3 }),
		gauge("borgios_crono_error_seconds", "Estimated bound of the error against the root.",
			func(st Status) float64 { return st.ErrorMs / 1e3 }),
		gauge("borgios_crono_synced", "1 when the node follows a root or is one.",
			func(st Status) float64 { return b2f(st.Synced) }),
		gauge("borgios_crono_stratum", "Hops from the root (root = 0).",
			func(st Status) float64 { return float64(st.Stratum) }),
		gauge("borgios_crono_rtt_seconds", "Round trip of the last exchange with the parent.",
			func(st Status) float64 { return st.LastRTTMs / 1e3 }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
