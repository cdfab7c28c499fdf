package netclient

import (
	"crypto/ed25519"
	"sync"
	"sync/atomic"
	"time"
)

// rateInterval is how often the pool turns byte counts into rates. One
// second makes "bytes per second" literal, and the page polls about as
// often.
const rateInterval = time.Second

// traffic counts bytes per node for every client the pool hands out (the
// cell.Meter of those clients) and keeps a smoothed rate per node. Counts
// are atomics so that the request path never waits on the page.
type traffic struct {
	mu    sync.Mutex
	nodes map[string]*nodeTraffic
}

type nodeTraffic struct {
	sent, received atomic.Int64

	// Guarded by traffic.mu: the last sample and the smoothed rates.
	lastAt             time.Time
	lastSent, lastRecv int64
	upRate, downRate   float64
}

func newTraffic() *traffic { return &traffic{nodes: map[string]*nodeTraffic{}} }

// Add implements cell.Meter.
func (t *traffic) Add(node ed25519.PublicKey, sent, received int) {
	n := t.node(string(node))
	n.sent.Add(int64(sent))
	n.received.Add(int64(received))
}

func (t *traffic) node(k string) *nodeTraffic {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodes[k]
	if n == nil {
		n = &nodeTraffic{}
		t.nodes[k] = n
	}
	return n
}

// sample updates every node's rate from the bytes counted since the last
// sample at now. The rate is an average over the interval, smoothed with
// weight 1/2 so one burst shows but does not linger: a transfer that stops
// reads as zero within a few seconds.
func (t *traffic) sample(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range t.nodes {
		s, r := n.sent.Load(), n.received.Load()
		if !n.lastAt.IsZero() {
			if dt := now.Sub(n.lastAt).Seconds(); dt > 0 {
				up := float64(s-n.lastSent) / dt
				down := float64(r-n.lastRecv) / dt
				n.upRate = (n.upRate + up) / 2
				n.downRate = (n.downRate + down) / 2
				if n.upRate < 1 {
					n.upRate = 0
				}
				if n.downRate < 1 {
					n.downRate = 0
				}
			}
		}
		n.lastAt, n.lastSent, n.lastRecv = now, s, r
	}
}

// Traffic is one node's byte counts and rates as the pool has measured
// them: totals since the pool started, rates in bytes per second.
type Traffic struct {
	Sent     int64   `json:"sent"`
	Received int64   `json:"received"`
	UpRate   float64 `json:"up_bps"`
	DownRate float64 `json:"down_bps"`
}

func (t *traffic) get(k string) Traffic {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodes[k]
	if n == nil {
		return Traffic{}
	}
	return Traffic{Sent: n.sent.Load(), Received: n.received.Load(), UpRate: n.upRate, DownRate: n.downRate}
}

// Traffic returns the bytes exchanged with the node key and the current
// rates; zero for a node never talked to.
func (p *Pool) Traffic(key ed25519.PublicKey) Traffic { return p.traffic.get(string(key)) }
