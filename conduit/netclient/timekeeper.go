package netclient

import (
	"sync"
	"time"
)

// How the pool moves its clock; doc.go says why.
const (
	// minAdjust: corrections smaller than this are ignored, so that the
	// noise of successive measurements does not make our time jitter.
	minAdjust = 300 * time.Millisecond
	// maxSlew: corrections up to this size are slewed (our clock runs
	// faster or slower until it has caught up) so that it never jumps,
	// and never runs backwards; larger ones are stepped, since a slew of
	// minutes would leave every request refused for even longer.
	maxSlew = 10 * time.Second
	// slewDiv: a slew corrects one ns per slewDiv ns elapsed, so our
	// clock runs at 1/2 or 3/2 speed while it slews (10 s take 20 s).
	slewDiv = 2
)

// adjustment is what timeKeeper.adjust did.
type adjustment int

const (
	adjustIgnored adjustment = iota
	adjustSlewed
	adjustStepped
)

func (a adjustment) String() string {
	switch a {
	case adjustSlewed:
		return "slewed"
	case adjustStepped:
		return "stepped"
	}
	return "ignored"
}

// timeKeeper is the pool's network time, a pure state machine: the
// elapsed monotonic time comes in as an argument (ns since the pool
// started), so tests drive it without sleeping.
//
// Network time = base + mono + offset. base is the computer's clock when
// the pool started; the offset starts at zero (we trust the computer
// until nodes say otherwise) and is moved by adjust. Counting from the
// monotonic clock rather than re-reading the wall clock means that the
// computer's own clock being set while we run (its NTP waking up, a
// person fixing it) does not move our time; only the nodes do.
type timeKeeper struct {
	mu       sync.Mutex
	base     int64 // ns
	from, to int64 // offset, ns: slewing from -> to; equal when not slewing
	slewAt   int64 // mono when the current slew began
	floor    int64 // the latest time handed out, ns
	gen      uint64
	adjusted bool
}

func newTimeKeeper(baseNs int64) *timeKeeper { return &timeKeeper{base: baseNs, floor: baseNs} }

// offsetLocked is the offset at mono, part way through any slew.
func (k *timeKeeper) offsetLocked(mono int64) int64 {
	if k.from == k.to {
		return k.to
	}
	done := max(mono-k.slewAt, 0) / slewDiv
	d := k.to - k.from
	if d > 0 && done < d {
		return k.from + done
	}
	if d < 0 && done < -d {
		return k.from - done
	}
	k.from = k.to
	return k.to
}

// now is network time at mono in ns. It never returns less than it
// returned before, except after a step back (adjust says so).
func (k *timeKeeper) now(mono int64) int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := k.base + mono + k.offsetLocked(mono)
	if n < k.floor {
		// Only a monotonic reading from before the last call (a racing
		// goroutine) gets here: hold still rather than run back.
		n = k.floor
	}
	k.floor = n
	return n
}

// offset is the offset at mono, ns; target is where a slew is heading.
func (k *timeKeeper) offset(mono int64) (cur, target int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.offsetLocked(mono), k.to
}

// adjust moves the offset towards target (ns, as offset returns it):
// ignored when closer than minAdjust to where the clock is heading,
// slewed up to maxSlew, stepped beyond. It returns what it did and the
// correction.
func (k *timeKeeper) adjust(target, mono int64) (adjustment, time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.offsetLocked(mono)
	d := time.Duration(target - cur)
	if time.Duration(target-k.to).Abs() < minAdjust {
		// Already there or heading there.
		return adjustIgnored, d
	}
	k.gen++
	k.adjusted = true
	if d.Abs() <= maxSlew {
		k.from, k.to, k.slewAt = cur, target, mono
		return adjustSlewed, d
	}
	k.from, k.to = target, target
	if d < 0 {
		// A deliberate step back: time handed out before was wrong.
		k.floor = k.base + mono + target
	}
	return adjustStepped, d
}

// generation counts adjustments, so a caller can tell whether the clock
// moved while it waited.
func (k *timeKeeper) generation() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.gen
}
