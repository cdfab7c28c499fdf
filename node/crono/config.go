package crono

import (
	"fmt"
	"math"
	"time"
)

// Defaults used where a Config field is zero.
const (
	DefaultMaxSlewPPM    = 500.0 // ntpd's slew limit: 1 ms of correction takes 2 s
	DefaultMaxStep       = 128 * time.Millisecond
	DefaultFilterSize    = 8
	DefaultPollInterval  = 16 * time.Second
	DefaultBurstInterval = 1 * time.Second
	DefaultMinSamples    = 4
	DefaultMaxDelayRatio = 2.0
	DefaultMaxRTT        = 4 * time.Second
)

// Hard limits on configuration and on what a peer may claim.
const (
	// MaxStratum is the deepest hop count accepted from a parent. Broadcast
	// trees are shallow (fan-out 10 reaches a million nodes in 6 hops); a
	// larger value means a loop or a broken peer.
	MaxStratum = 32
	// maxFreq bounds the estimated rate difference between the local clock and
	// network time. Quartz is within ±100 ppm of nominal, so two clocks differ
	// by at most ~200 ppm; anything beyond 1000 ppm is noise or a bad parent.
	maxFreq = 1000e-6
	// maxSlewLimit keeps 1 + freq - slew well above zero, which is what makes
	// the output provably monotonic.
	maxSlewLimit = 100_000.0 // ppm (10 %)
	// delayFloor is added to the outlier threshold so that links whose
	// minimum delay is tiny (localhost, LAN) do not reject ordinary jitter.
	delayFloor = int64(time.Millisecond)
	// sampleFloor is the offset noise (ns) assumed even for a sample at the
	// path's minimum delay: that minimum itself contains some queueing.
	sampleFloor = 200e3
	// unknownPhaseVar is the phase variance of an edge before its first
	// sample (1000 s squared): anything the first sample says goes.
	unknownPhaseVar = 1e24
	// freshFreqVar is the frequency variance of a node that never synced:
	// two quartz clocks differ by up to ~200 ppm.
	freshFreqVar = 200e-6 * 200e-6
	// minFreqVar keeps the filter from becoming certain of the frequency
	// (0.05 ppm), so it keeps following a parent whose rate wanders.
	minFreqVar = 0.05e-6 * 0.05e-6
	// phaseNoise is the variance (ns² per ns) the parent's phase gains by
	// random walk: its own corrections, about 100 µs per 16 s poll.
	phaseNoise = 0.5
	// freqNoise is the variance (per ns) the parent's frequency gains by
	// random walk: about 1 ppm per 16 s as it refines its own estimate.
	freqNoise = 1e-12 / 16e9
	// wanderUnit is the interval Response.Wander refers to, ns.
	wanderUnit = 16e9
	// wanderGain is the weight of the newest frequency change in the
	// running mean behind Response.Wander.
	wanderGain = 0.25
	// maxWanderPPB bounds the advertised wander (1000 ppm).
	maxWanderPPB = 1_000_000
	// gateSigma: a sample further than this many standard deviations from
	// the prediction means the parent's time moved; the filter fades its
	// memory instead of averaging the move away slowly.
	gateSigma = 5.0
	// fadeSpan converts such a surprise into frequency uncertainty: a jump
	// of y is read as possibly a rate change of y per fadeSpan.
	fadeSpan = 30e9
	// reparentFreqVar is added to the frequency variance when the parent
	// changes: a new parent follows the same root, so the rate carries over,
	// but not exactly (1 ppm).
	reparentFreqVar = 1e-6 * 1e-6
	// pollBudget sets the poll interval between BurstInterval and
	// PollInterval: poll again before the frequency uncertainty can have
	// moved the estimate by more than this (ns).
	pollBudget = 100e3
	// dispersionRate is how fast the error estimate grows while no sample
	// arrives (NTP's PHI, 15 ppm).
	dispersionRate = 15e-6
	// maxOffsetJump: a sample whose offset differs from the prediction by
	// more than this (2^52 ns, 52 days) cannot be from the same parent clock;
	// the edge restarts rather than push nonsense through float arithmetic.
	maxOffsetJump = int64(1) << 52
	// maxNetTime bounds the network times a parent may stamp (2^62 ns is the
	// year 2116) so that offset arithmetic cannot overflow.
	maxNetTime = int64(1) << 62
)

// Config tunes a Clock. The zero value of every field selects its default.
type Config struct {
	// Epoch is the Unix time in ns at which the local clock read 0: the node's
	// own guess of the time (its OS wall clock at start), used as network time
	// until the first sync and as the reference if the node becomes root
	// before ever syncing. SystemClock.Epoch provides it.
	Epoch int64
	// MaxSlewPPM is the fastest rate at which a correction is slewed, in parts
	// per million of elapsed time, in either direction.
	MaxSlewPPM float64
	// MaxStep is the largest forward jump of network time after the first
	// sync. Only the part of a forward correction that cannot be slewed within
	// one PollInterval is jumped, at most MaxStep at a time; the rest is
	// slewed. Negative disables jumps: every correction is slewed.
	MaxStep time.Duration
	// FilterSize is the number of recent samples per edge whose minimum delay
	// the clock filter compares a new sample with (NTP uses 8).
	FilterSize int
	// PollInterval is the normal time between requests to the parent.
	PollInterval time.Duration
	// BurstInterval is the time between requests while the node is not synced
	// or its current edge has fewer than FilterSize samples, and the shortest
	// interval while the frequency is still uncertain; polling slows toward
	// PollInterval as the frequency estimate firms up.
	BurstInterval time.Duration
	// MinSamples is how many samples a new edge needs before it may change the
	// clock; with fewer, one delayed reply could set the time.
	MinSamples int
	// MaxDelayRatio rejects a sample whose delay exceeds MaxDelayRatio times
	// the filter's minimum delay plus 1 ms (NTP's popcorn spike suppressor,
	// chrony's maxdelayratio).
	MaxDelayRatio float64
	// MaxRTT rejects responses that arrive later than this after the request.
	MaxRTT time.Duration
}

// withDefaults fills zero fields and checks the rest.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.MaxSlewPPM == 0 {
		cfg.MaxSlewPPM = DefaultMaxSlewPPM
	}
	if cfg.MaxStep == 0 {
		cfg.MaxStep = DefaultMaxStep
	}
	if cfg.MaxStep < 0 {
		cfg.MaxStep = 0
	}
	if cfg.FilterSize == 0 {
		cfg.FilterSize = DefaultFilterSize
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.BurstInterval == 0 {
		cfg.BurstInterval = DefaultBurstInterval
	}
	if cfg.MinSamples == 0 {
		cfg.MinSamples = min(DefaultMinSamples, max(cfg.FilterSize, 1))
	}
	if cfg.MaxDelayRatio == 0 {
		cfg.MaxDelayRatio = DefaultMaxDelayRatio
	}
	if cfg.MaxRTT == 0 {
		cfg.MaxRTT = DefaultMaxRTT
	}
	switch {
	case math.IsNaN(cfg.MaxSlewPPM) || cfg.MaxSlewPPM < 0 || cfg.MaxSlewPPM > maxSlewLimit:
		return cfg, fmt.Errorf("%w: MaxSlewPPM %v outside (0, %v]", ErrConfig, cfg.MaxSlewPPM, maxSlewLimit)
	case cfg.FilterSize < 0 || cfg.FilterSize > 64:
		return cfg, fmt.Errorf("%w: FilterSize %d outside [1, 64]", ErrConfig, cfg.FilterSize)
	case cfg.MinSamples < 0 || cfg.MinSamples > cfg.FilterSize:
		return cfg, fmt.Errorf("%w: MinSamples %d outside [1, FilterSize=%d]", ErrConfig, cfg.MinSamples, cfg.FilterSize)
	case cfg.PollInterval < 0 || cfg.BurstInterval < 0 || cfg.MaxRTT < 0:
		return cfg, fmt.Errorf("%w: negative interval", ErrConfig)
	case math.IsNaN(cfg.MaxDelayRatio) || cfg.MaxDelayRatio < 1:
		return cfg, fmt.Errorf("%w: MaxDelayRatio %v below 1", ErrConfig, cfg.MaxDelayRatio)
	}
	return cfg, nil
}
