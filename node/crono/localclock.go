package crono

import "math"

// LocalClock is where a node's local time comes from: monotonic nanoseconds
// from an arbitrary origin. It must never go backwards; it may run fast or
// slow (crono estimates the rate). SystemClock is the real one; tests inject
// virtual or skewed clocks.
type LocalClock interface {
	Monotonic() int64
}

// skewed is a LocalClock that reads another one with an offset and a rate
// error, to run real nodes with deliberately bad clocks in one process.
type skewed struct {
	base   LocalClock
	offset int64
	ppm    float64
}

// Skewed returns base shifted by offset ns and running ppm parts per million
// fast (negative: slow). The offset also moves the node's unsynced guess of
// the time, since that is Epoch + local. ppm must be above -1e6.
func Skewed(base LocalClock, offset int64, ppm float64) LocalClock {
	return &skewed{base: base, offset: offset, ppm: ppm}
}

func (s *skewed) Monotonic() int64 {
	m := s.base.Monotonic()
	return s.offset + m + int64(math.Round(float64(m)*s.ppm*1e-6))
}
