package crono

import "math"

// sample is one completed four-timestamp exchange, reduced to what the
// estimator needs. Offsets are raw: parent network time minus OUR LOCAL clock,
// not minus our network time, so the estimate does not depend on how the
// output is being slewed.
type sample struct {
	local  int64 // our local clock at the exchange's midpoint, ns
	offset int64 // parent's network time minus local at that instant, ns
	delay  int64 // round trip minus the parent's hold time, ns
}

// edge is the sync state for one parent. A new parent, or a parent whose
// clock stepped, gets a fresh edge; the node's frequency estimate survives.
type edge struct {
	parent string
	// ring is the clock filter: the last FilterSize samples, accepted or
	// not, oldest first. Its minimum delay is the reference for outliers and
	// for each sample's weight; keeping rejected samples in it lets the
	// minimum rise after a route change instead of rejecting everything
	// forever.
	ring []sample

	kf     kalman
	primed bool // kf has absorbed the ring once MinSamples were in

	steps     uint32 // parent's Steps seen on this edge
	haveSteps bool

	pending bool // a request is outstanding
	seq     uint64
	t1      int64

	lastReq int64 // local time of the last request on this edge
	haveReq bool
}

func (e *edge) minDelay() int64 {
	m := int64(math.MaxInt64)
	for _, s := range e.ring {
		m = min(m, s.delay)
	}
	return m
}

// delayLimit is the largest delay still accepted given the filter's minimum.
func delayLimit(minDelay int64, ratio float64) int64 {
	if minDelay == math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(float64(minDelay)*ratio) + delayFloor
}

// push adds s to the clock filter and reports whether its delay is
// acceptable against the filter's minimum (NTP's popcorn spike test).
func (e *edge) push(s sample, filterSize int, ratio float64) bool {
	if len(e.ring) == filterSize {
		copy(e.ring, e.ring[1:])
		e.ring = e.ring[:filterSize-1]
	}
	e.ring = append(e.ring, s)
	return s.delay <= delayLimit(e.minDelay(), ratio)
}

// noise is the standard deviation (ns) assumed for a sample's offset. A
// sample's offset error from queueing is at most half its delay above the
// path's minimum, so samples near the minimum count most and a sample 10 ms
// slow counts 1/400 as much: NTP's "use the minimum-delay sample of the last
// eight", made smooth so that several good samples also average out.
func noise(delay, minDelay int64) float64 {
	return sampleFloor + float64(max(delay-minDelay, 0))/2
}

// kalman estimates the raw offset θ(l) = parent time − local time as a
// phase and a frequency: θ(l) ≈ theta + freq·(l − at). Process noise lets
// the estimate forget: the parent's clock is itself being steered, so old
// samples describe it less well than new ones, and a fixed regression window
// would keep a parent's start-up transient alive for minutes, and each
// level of the tree would add its own lag.
type kalman struct {
	at    int64   // local time the state refers to
	theta int64   // offset at `at`, ns
	freq  float64 // d(offset)/d(local): network time runs at (1+freq) × local
	// covariance: p00 in ns², p01 in ns, p11 dimensionless²
	p00, p01, p11 float64
	n             int // samples absorbed
	// qf is the frequency random-walk variance per ns: freqNoise plus what
	// the parent says about its own uncertainty.
	qf float64
}

// start resets the phase to unknown and keeps a frequency with its variance.
func (k *kalman) start(freq, freqVar float64) {
	*k = kalman{freq: freq, p11: freqVar, p00: unknownPhaseVar, qf: freqNoise}
}

// predict moves the state to local time l.
func (k *kalman) predict(l int64) {
	if k.n == 0 {
		k.at = l
		return
	}
	dt := float64(l - k.at)
	if dt <= 0 {
		return
	}
	k.theta += int64(math.Round(k.freq * dt))
	k.p00 += 2*dt*k.p01 + dt*dt*k.p11 + phaseNoise*dt + k.qf*dt*dt*dt/3
	k.p01 += dt*k.p11 + k.qf*dt*dt/2
	k.p11 += k.qf * dt
	k.at = l
}

// update absorbs a sample with offset noise sigma (ns).
func (k *kalman) update(s sample, sigma float64) {
	k.predict(s.local)
	r := sigma * sigma
	if k.n == 0 {
		k.theta = s.offset
		k.p00 = r
		k.n = 1
		return
	}
	y := float64(s.offset - k.theta)
	sv := k.p00 + r
	z := y / math.Sqrt(sv)
	if z*z > gateSigma*gateSigma {
		// The parent's time moved more than the model allows (its own
		// start-up, a new root, a long outage). Trust the new data more
		// rather than drag the old estimate along: fading memory.
		k.p00 += y * y
		k.p11 += (y * y) / (fadeSpan * fadeSpan)
		sv = k.p00 + r
	}
	k0, k1 := k.p00/sv, k.p01/sv
	k.theta += int64(math.Round(k0 * y))
	k.freq += k1 * y
	if k.freq > maxFreq || k.freq < -maxFreq {
		k.freq = max(-maxFreq, min(maxFreq, k.freq))
	}
	p00, p01 := k.p00, k.p01
	k.p00 = (1 - k0) * p00
	k.p01 = (1 - k0) * p01
	k.p11 -= k1 * p01
	k.p11 = max(k.p11, minFreqVar)
	k.n++
}

// offsetAt is the estimated raw offset at local time l, without changing
// the state.
func (k *kalman) offsetAt(l int64) int64 {
	return k.theta + int64(math.Round(k.freq*float64(l-k.at)))
}

// phaseSigma is the standard deviation of the offset estimate at l, ns.
func (k *kalman) phaseSigma(l int64) float64 {
	dt := math.Max(float64(l-k.at), 0)
	return math.Sqrt(max(k.p00+2*dt*k.p01+dt*dt*k.p11, 0))
}

// sub returns a−b and whether it did not overflow.
func sub(a, b int64) (int64, bool) {
	d := a - b
	return d, (a^b) >= 0 || (a^d) >= 0
}
