package relay

import (
	"encoding/hex"

	"github.com/prometheus/client_golang/prometheus"
)

// registerMetrics publishes the service's counters. Per-client bytes are a
// collector over the usage table (at most maxUsage label values), so a
// scrape sees the same figures as Status and Usage.
func (s *Service) registerMetrics(reg prometheus.Registerer) error {
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "borgios_nat_reachability",
			Help: "What NAT detection found: 0 unknown, 1 public (a peer dialled us back), 2 behind NAT."},
			func() float64 { return float64(s.Reach()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "borgios_relay_clients",
			Help: "NATed nodes registered with this relay now."},
			func() float64 { s.mu.Lock(); defer s.mu.Unlock(); return float64(len(s.clients)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "borgios_relay_tunnels",
			Help: "Relayed connections passing through this relay now."},
			func() float64 {
				s.mu.Lock()
				defer s.mu.Unlock()
				n := int64(0)
				for _, c := range s.clients {
					n += c.tunnels.Load()
				}
				return float64(n)
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "borgios_relay_bytes_total",
			Help: "Bytes this relay carried for all clients, both directions."},
			func() float64 { return float64(s.relayedBytes.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "borgios_relay_refused_total",
			Help: "Registrations and tunnels this relay refused (limits, unknown node, not relaying)."},
			func() float64 { return float64(s.refused.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "borgios_nat_punch_direct_total",
			Help: "Hole punching attempts that found a direct path."},
			func() float64 { return float64(s.punchDirect.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "borgios_nat_punch_failed_total",
			Help: "Hole punching attempts that stayed relayed."},
			func() float64 { return float64(s.punchFailed.Load()) }),
		&usageCollector{s: s},
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

var (
	clientBytesDesc = prometheus.NewDesc("borgios_relay_client_bytes_total",
		"Bytes this relay carried for one client (full node key), both directions: what it may be paid for.",
		[]string{"client"}, nil)
	clientAckedDesc = prometheus.NewDesc("borgios_relay_client_acked_bytes",
		"The client's own signed count of the bytes this relay carried for it (latest receipt).",
		[]string{"client"}, nil)
	clientTunnelsDesc = prometheus.NewDesc("borgios_relay_client_tunnels_total",
		"Relayed connections this relay opened to one client.", []string{"client"}, nil)
)

type usageCollector struct{ s *Service }

func (c *usageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- clientBytesDesc
	ch <- clientTunnelsDesc
	ch <- clientAckedDesc
}

func (c *usageCollector) Collect(ch chan<- prometheus.Metric) {
	for _, u := range c.s.Usage() {
		k := hex.EncodeToString(u.Client)
		ch <- prometheus.MustNewConstMetric(clientBytesDesc, prometheus.CounterValue, float64(u.Bytes), k)
		ch <- prometheus.MustNewConstMetric(clientTunnelsDesc, prometheus.CounterValue, float64(u.Tunnels), k)
		ch <- prometheus.MustNewConstMetric(clientAckedDesc, prometheus.GaugeValue, float64(u.Acked), k)
	}
}
