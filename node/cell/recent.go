package cell

import (
	"encoding/hex"
	"sync"
)

// recentLen is how many broadcasts the monitor remembers per cell.
const recentLen = 32

// BroadcastStat is what the monitor shows about one recent broadcast: how
// many copies of it arrived over the network and how many times it was
// delivered here. In a healthy tree both are 1 (the origin: 0 and 1), so a
// duplicate is visible on /status.
type BroadcastStat struct {
	ID        string `json:"id"`
	Kind      string `json:"kind,omitempty"`
	Received  int    `json:"received"`
	Delivered int    `json:"delivered"`
}

// recentBroadcasts keeps the last few broadcasts' counts, oldest evicted.
type recentBroadcasts struct {
	mu    sync.Mutex
	order []string
	stats map[string]*BroadcastStat
}

func (r *recentBroadcasts) get(id [32]byte) *BroadcastStat {
	key := hex.EncodeToString(id[:])
	if r.stats == nil {
		r.stats = map[string]*BroadcastStat{}
	}
	if s := r.stats[key]; s != nil {
		return s
	}
	if len(r.order) == recentLen {
		delete(r.stats, r.order[0])
		r.order = r.order[1:]
	}
	s := &BroadcastStat{ID: key}
	r.stats[key] = s
	r.order = append(r.order, key)
	return s
}

func (r *recentBroadcasts) received(id [32]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.get(id).Received++
}

func (r *recentBroadcasts) delivered(id [32]byte, kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.get(id)
	s.Delivered++
	s.Kind = kind
}

// list returns the remembered broadcasts, newest first.
func (r *recentBroadcasts) list() []BroadcastStat {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]BroadcastStat, 0, len(r.order))
	for i := len(r.order) - 1; i >= 0; i-- {
		out = append(out, *r.stats[r.order[i]])
	}
	return out
}
