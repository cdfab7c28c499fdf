package crono

import "time"

// This file is the only place in the package that reads the machine's
// clock. Everything else gets time as an argument, which is what lets the
// simulation run thousands of clocks on virtual time.

// SystemClock is the real LocalClock: the Go runtime's monotonic clock since
// the process created it. It is unaffected by changes to the OS wall clock,
// which crono never touches and never trusts once synced.
type SystemClock struct {
	start time.Time
}

// NewSystemClock starts a SystemClock at local time 0.
func NewSystemClock() *SystemClock {
	return &SystemClock{start: time.Now()}
}

// Monotonic is the time since NewSystemClock, ns.
func (s *SystemClock) Monotonic() int64 {
	return int64(time.Since(s.start))
}

// Epoch is the OS wall clock (Unix ns) when local time was 0, the node's
// guess of the time before it syncs: pass it as Config.Epoch.
func (s *SystemClock) Epoch() int64 {
	return s.start.UnixNano()
}
