package stream

import (
	"context"
	"sync"
	"time"
)

// Limiter is shared by every transfer of a process (or of a Fetcher): it
// splits a budget of in-flight pieces evenly among the active transfers,
// so a new transfer gets its share at once instead of queueing behind a
// big one, and optionally caps the bytes per second all of them pull
// together (a token bucket). Both bound the reader's memory: at most
// Slots pieces are in flight at a time.
type Limiter struct {
	slots int
	rate  float64 // bytes/s; 0: unlimited
	burst float64

	mu     sync.Mutex
	active int
	tokens float64
	last   time.Time
}

// DefaultSlots is the in-flight budget of a default Limiter: 64 pieces of
// 256 KiB, 16 MiB in flight, enough for 1 Gbit/s at 100 ms RTT.
const DefaultSlots = 64

// NewLimiter shares slots in-flight pieces (DefaultSlots if <= 0) and, if
// bytesPerSec > 0, that many bytes per second among transfers.
func NewLimiter(slots int, bytesPerSec float64) *Limiter {
	if slots <= 0 {
		slots = DefaultSlots
	}
	l := &Limiter{slots: slots, rate: bytesPerSec, last: time.Now()}
	// A burst of a quarter second (at least 1 MiB) lets windows open
	// without overshooting the rate for long.
	l.burst = max(bytesPerSec/4, 1<<20)
	l.tokens = l.burst
	return l
}

// join registers a transfer; the returned func unregisters it.
func (l *Limiter) join() func() {
	l.mu.Lock()
	l.active++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.active--
			l.mu.Unlock()
		})
	}
}

// Share is the in-flight pieces each active transfer may have now.
func (l *Limiter) Share() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(1, l.slots/max(1, l.active))
}

// wait takes n bytes from the token bucket, sleeping until they are
// there. Reservations go negative, so waiters are served in order.
func (l *Limiter) wait(ctx context.Context, n int) error {
	if l.rate <= 0 {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n)
	var d time.Duration
	if l.tokens < 0 {
		d = time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	l.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
