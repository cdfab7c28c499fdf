package registry

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"fmt"
	"slices"
	"sync"
	"time"
)

type nodeKey = [ed25519.PublicKeySize]byte

// tombstone remembers a node dropped before its entry expired, so a
// replayed copy of that (or an older) entry cannot bring it back.
type tombstone struct {
	seq   uint64
	until int64
}

// table holds the verified entries, one per node. It is safe for
// concurrent use. Callers pass network time in; the table never reads a
// clock.
type table struct {
	mu      sync.Mutex
	max     int
	entries map[nodeKey]*Entry
	byCell  map[string]map[nodeKey]*Entry
	sorted  []nodeKey // every key held, ascending, for paged dumps
	tombs   map[nodeKey]tombstone
	rtt     map[nodeKey]time.Duration
}

func newTable(max int) *table {
	return &table{max: max, entries: map[nodeKey]*Entry{}, byCell: map[string]map[nodeKey]*Entry{},
		tombs: map[nodeKey]tombstone{}, rtt: map[nodeKey]time.Duration{}}
}

// accept stores e if it is newer than what is held. e must have been
// verified (Verify or Check) as of now.
func (t *table) accept(e *Entry, now int64) error {
	k := e.Key()
	t.mu.Lock()
	defer t.mu.Unlock()
	if ts, ok := t.tombs[k]; ok {
		if ts.until <= now {
			delete(t.tombs, k)
		} else if e.Seq <= ts.seq {
			return fmt.Errorf("%w: seq %d, node dropped at seq %d", ErrStale, e.Seq, ts.seq)
		}
	}
	old, held := t.entries[k]
	if held {
		switch {
		case e.Seq < old.Seq:
			return fmt.Errorf("%w: seq %d, holding %d", ErrStale, e.Seq, old.Seq)
		case e.Seq == old.Seq && bytes.Equal(e.raw, old.raw):
			return ErrDuplicate
		case e.Seq == old.Seq:
			return fmt.Errorf("%w: seq %d", ErrEquivocation, e.Seq)
		}
		t.unindex(old)
	} else if len(t.entries) >= t.max {
		t.sweepLocked(now)
		if len(t.entries) >= t.max {
			return fmt.Errorf("%w: %d nodes", ErrTableFull, t.max)
		}
	}
	if !held {
		i, _ := slices.BinarySearchFunc(t.sorted, k, compareKeys)
		t.sorted = slices.Insert(t.sorted, i, k)
	}
	t.entries[k] = e
	for _, c := range e.Cells {
		m := t.byCell[c.Name]
		if m == nil {
			m = map[nodeKey]*Entry{}
			t.byCell[c.Name] = m
		}
		m[k] = e
	}
	return nil
}

func compareKeys(a, b nodeKey) int { return bytes.Compare(a[:], b[:]) }

func (t *table) unindex(e *Entry) {
	k := e.Key()
	for _, c := range e.Cells {
		if m := t.byCell[c.Name]; m != nil {
			delete(m, k)
			if len(m) == 0 {
				delete(t.byCell, c.Name)
			}
		}
	}
}

func (t *table) removeLocked(k nodeKey) *Entry {
	e, ok := t.entries[k]
	if !ok {
		return nil
	}
	t.unindex(e)
	delete(t.entries, k)
	delete(t.rtt, k)
	if i, found := slices.BinarySearchFunc(t.sorted, k, compareKeys); found {
		t.sorted = slices.Delete(t.sorted, i, i+1)
	}
	return e
}

// forget drops a node at once (it was seen dead) and refuses its entries
// up to the sequence held until that entry would have expired anyway.
func (t *table) forget(k nodeKey) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.removeLocked(k)
	if e == nil {
		return false
	}
	t.tombs[k] = tombstone{seq: e.Seq, until: e.ExpiresAt}
	return true
}

// sweep drops expired entries and tombstones and returns how many entries
// it dropped.
func (t *table) sweep(now int64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sweepLocked(now)
}

func (t *table) sweepLocked(now int64) int {
	n := 0
	for k, e := range t.entries {
		if e.ExpiresAt <= now {
			t.removeLocked(k)
			n++
		}
	}
	for k, ts := range t.tombs {
		if ts.until <= now {
			delete(t.tombs, k)
		}
	}
	return n
}

// observeRTT records a round trip this node measured to k (smoothed like
// TCP's SRTT, 1/8 weight for the new sample).
func (t *table) observeRTT(k nodeKey, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.rtt[k]; ok {
		d = old + (d-old)/8
	}
	if _, held := t.entries[k]; held {
		t.rtt[k] = d
	}
}

// withRTT returns a shallow copy of e carrying our measured RTT.
func (t *table) withRTT(e *Entry) *Entry {
	c := *e
	c.RTT = t.rtt[e.Key()]
	return &c
}

// lookup returns up to limit unexpired entries serving cell, best first.
func (t *table) lookup(cell string, limit int, now int64) []*Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Keep only the best limit while scanning: a cell may have thousands
	// of nodes and a lookup wants a handful. top stays sorted, best first.
	top := make([]*Entry, 0, limit+1)
	var cand Entry
	for _, e := range t.byCell[cell] {
		if e.ExpiresAt <= now {
			continue
		}
		cand = *e
		cand.RTT = t.rtt[e.Key()]
		if len(top) == limit && compareEntries(&cand, top[limit-1]) >= 0 {
			continue
		}
		c := cand
		i, _ := slices.BinarySearchFunc(top, &c, compareEntries)
		top = slices.Insert(top, i, &c)
		if len(top) > limit {
			top = top[:limit]
		}
	}
	return top
}

// Rank orders entries best first: least loaded, then (among measured
// ones) lowest RTT, then most recently issued; ties by key so every node
// answers in the same order.
func Rank(es []*Entry) { slices.SortFunc(es, compareEntries) }

func compareEntries(a, b *Entry) int {
	if c := cmp.Compare(a.Load/100, b.Load/100); c != 0 { // 10% buckets: load is a coarse estimate
		return c
	}
	if a.RTT > 0 && b.RTT > 0 {
		if c := cmp.Compare(a.RTT, b.RTT); c != 0 {
			return c
		}
	} else if a.RTT > 0 || b.RTT > 0 {
		if a.RTT > 0 {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(b.IssuedAt, a.IssuedAt), bytes.Compare(a.Node, b.Node))
}

// dump returns up to limit unexpired entries with keys after the cursor,
// in key order, and the cursor for the next page (nil at the end).
func (t *table) dump(after []byte, limit int, now int64) ([]*Entry, []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := 0
	if len(after) == ed25519.PublicKeySize {
		var found bool
		i, found = slices.BinarySearchFunc(t.sorted, nodeKey(after), compareKeys)
		if found {
			i++
		}
	}
	var out []*Entry
	for ; i < len(t.sorted) && len(out) < limit; i++ {
		if e := t.entries[t.sorted[i]]; e.ExpiresAt > now {
			out = append(out, t.withRTT(e))
		}
	}
	if i >= len(t.sorted) {
		return out, nil
	}
	last := t.sorted[i-1]
	return out, last[:]
}

func (t *table) get(k nodeKey) *Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.entries[k]
}

// CellStatus summarises the entries of one cell type.
type CellStatus struct {
	Nodes        int   `json:"nodes"`
	OldestIssued int64 `json:"oldest_issued_ms"`
	NewestIssued int64 `json:"newest_issued_ms"`
}

// maxStatusCells bounds the status section: cell names come from entries
// anyone can sign.
const maxStatusCells = 64

func (t *table) status(now int64) (int, int, map[string]CellStatus) {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := make([]string, 0, len(t.byCell))
	for name := range t.byCell {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(t.byCell[b]), len(t.byCell[a])), cmp.Compare(a, b))
	})
	out := map[string]CellStatus{}
	for _, name := range names[:min(len(names), maxStatusCells)] {
		var cs CellStatus
		for _, e := range t.byCell[name] {
			if e.ExpiresAt <= now {
				continue
			}
			cs.Nodes++
			if cs.OldestIssued == 0 || e.IssuedAt < cs.OldestIssued {
				cs.OldestIssued = e.IssuedAt
			}
			cs.NewestIssued = max(cs.NewestIssued, e.IssuedAt)
		}
		out[name] = cs
	}
	return len(t.entries), len(t.tombs), out
}
