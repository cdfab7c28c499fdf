package wire

import (
	"crypto/ed25519"
	"fmt"
	"math"
	"sync"
)

// replayKey is (sender, nonce). The full sender key is kept, not a hash or
// prefix, so that no other key holder can ever collide with a victim's
// nonce to get its envelopes refused.
type replayKey [ed25519.PublicKeySize + NonceSize]byte

func makeReplayKey(e *Envelope) replayKey {
	var k replayKey
	copy(k[:], e.Sender)
	copy(k[ed25519.PublicKeySize:], e.Nonce[:])
	return k
}

// generationsPerWindow sets the expiry granularity: entries are grouped by
// expiry time into slices of window/8 and dropped a whole slice at a time.
// Each key is stored once (no heap or list beside the map), and expiring
// costs nothing per entry; memory is held at most window/8 longer than
// strictly needed.
const generationsPerWindow = 8

type generation struct {
	id   int64 // floorDiv(expiry, span) of every entry in it
	keys map[replayKey]struct{}
}

// replayCache remembers accepted (sender, nonce) pairs while an envelope
// carrying them could still pass the time window.
//
// An envelope with time t passes while now <= t+window, so its entry
// expires at t+window. Expiry follows the envelope's own time, not arrival
// time, so stepping the clock either way can never let a replay through:
// whatever was dropped would now be refused as too old. The horizon closes
// the remaining gap between goroutines holding different "now" values:
// once a generation is dropped, add refuses anything that would have
// belonged to it.
type replayCache struct {
	mu       sync.Mutex
	windowMs int64
	span     int64
	capacity int
	count    int
	gens     []generation // ascending id, a handful (about 2*8+2) at most
	horizon  int64        // generations with id < horizon are gone
}

func newReplayCache(capacity int, windowMs int64) *replayCache {
	return &replayCache{
		windowMs: windowMs,
		span:     max(1, windowMs/generationsPerWindow),
		capacity: capacity,
		horizon:  math.MinInt64,
	}
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// contains is the cheap early check before the signature; add re-checks
// under the same lock that inserts, so a race between two copies of one
// envelope still admits only one.
func (c *replayCache) contains(k replayKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.containsLocked(k)
}

func (c *replayCache) containsLocked(k replayKey) bool {
	// A replay carries the same time and so lands in the same generation,
	// but a sender that reused a nonce at another time is caught too by
	// looking in all of them; there are few.
	for i := range c.gens {
		if _, ok := c.gens[i].keys[k]; ok {
			return true
		}
	}
	return false
}

// add records k for an envelope of time t that fully verified at now.
func (c *replayCache) add(k replayKey, t, now int64) error {
	gid := floorDiv(satAdd(t, c.windowMs), c.span)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pruneLocked(now)
	if gid < c.horizon {
		return fmt.Errorf("%w: expired from the replay cache while being verified", ErrTooOld)
	}
	if c.containsLocked(k) {
		return ErrReplay
	}
	if c.count >= c.capacity {
		return fmt.Errorf("%w: %d live nonces", ErrReplayCacheFull, c.count)
	}
	i := 0
	for i < len(c.gens) && c.gens[i].id < gid {
		i++
	}
	if i == len(c.gens) || c.gens[i].id != gid {
		c.gens = append(c.gens, generation{})
		copy(c.gens[i+1:], c.gens[i:])
		c.gens[i] = generation{id: gid, keys: make(map[replayKey]struct{})}
	}
	c.gens[i].keys[k] = struct{}{}
	c.count++
	return nil
}

// pruneLocked drops generations whose every entry expired before now: a
// generation with id < floorDiv(now, span) ends before floorDiv(now,
// span)*span <= now.
func (c *replayCache) pruneLocked(now int64) {
	cut := floorDiv(now, c.span)
	if cut <= c.horizon {
		return
	}
	c.horizon = cut
	n := 0
	for n < len(c.gens) && c.gens[n].id < cut {
		c.count -= len(c.gens[n].keys)
		n++
	}
	if n > 0 {
		rest := copy(c.gens, c.gens[n:])
		clear(c.gens[rest:]) // let the dropped maps be collected
		c.gens = c.gens[:rest]
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
