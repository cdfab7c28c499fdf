package crono

import (
	"fmt"
	"math"
	"time"
)

// curve is the output: network time as a piecewise-linear function of the
// local clock. From its anchor it runs at rate 1+freq and additionally slews
// the signed correction slew at slewRate until it is used up. Because
// |freq| ≤ 0.1 % and slewRate ≤ 10 %, the slope is always positive.
type curve struct {
	local    int64
	net      int64
	freq     float64
	slew     int64   // correction still to apply, as of the anchor
	slewRate float64 // ns of correction per ns of local time
}

// at is network time at local time l. Before the anchor it extrapolates
// without slew; Clock.Now's high-water mark covers that case.
func (k *curve) at(l int64) int64 {
	dl := l - k.local
	v := k.net + dl + int64(math.Round(float64(dl)*k.freq))
	if dl > 0 && k.slew != 0 {
		v += k.slewed(dl)
	}
	return v
}

// slewed is the part of the correction applied dl after the anchor.
func (k *curve) slewed(dl int64) int64 {
	done := float64(dl) * k.slewRate
	if done >= math.Abs(float64(k.slew)) {
		return k.slew
	}
	if k.slew < 0 {
		return -int64(done)
	}
	return int64(done)
}

// remaining is the correction not yet slewed at local time l.
func (k *curve) remaining(l int64) int64 {
	if l <= k.local {
		return k.slew
	}
	return k.slew - k.slewed(l-k.local)
}

// Clock is one node's network time. It is a pure state machine: every
// method takes the local monotonic time in ns (from a LocalClock) and none
// blocks, reads a clock or starts a goroutine. It is not safe for concurrent
// use; the runtime serialises calls.
type Clock struct {
	cfg Config

	out     curve
	lastOut int64 // high-water mark: Now never returns less
	synced  bool
	root    bool

	edge    *edge // nil without a parent
	seq     uint64
	stratum int

	// freqVar is the variance of out.freq, carried to the next edge.
	freqVar float64
	// wander is a running mean of squared frequency changes per ns of
	// local time: how fast this node's rate is moving (see Response.Wander).
	wander float64

	// last update, for Status and the error estimate
	lastUpdate int64
	lastOffset int64
	lastDelay  int64
	minDelay   int64
	baseError  int64 // error against the root at lastUpdate
	parentErr  int64

	steps    uint32 // discontinuities: first sync, jumps, Unsync+resync
	jumps    uint64
	jumped   int64 // total forward jumps after first sync, ns
	accepted uint64
	rejected uint64
}

// New returns an unsynced Clock whose network time is cfg.Epoch + local until
// it syncs to a parent or becomes root.
func New(cfg Config) (*Clock, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Clock{
		cfg:     cfg,
		out:     curve{local: 0, net: cfg.Epoch, slewRate: cfg.MaxSlewPPM * 1e-6},
		lastOut: math.MinInt64,
		freqVar: freshFreqVar,
	}, nil
}

// Now is network time, Unix ns, at local time local. It never returns less
// than it returned before, except across the first sync (see doc.go).
func (c *Clock) Now(local int64) int64 {
	v := c.out.at(local)
	if v < c.lastOut {
		return c.lastOut
	}
	c.lastOut = v
	return v
}

// NowMs is Now in Unix milliseconds, as envelopes carry it.
func (c *Clock) NowMs(local int64) int64 {
	return floorDiv(c.Now(local), int64(time.Millisecond))
}

// Synced reports whether the clock follows a root (or is one).
func (c *Clock) Synced() bool { return c.synced }

// SetRoot makes this node the reference. Its network time continues from its
// current output at its current rate, so nobody below sees a step; an
// in-progress slew is dropped because there is no longer anything to
// converge to. A node that never synced becomes the root of a new network
// with its own Epoch-based time.
func (c *Clock) SetRoot(local int64) {
	cur := c.Now(local)
	c.out = curve{local: local, net: cur, freq: c.out.freq, slewRate: c.out.slewRate}
	c.root = true
	c.synced = true
	c.edge = nil
	c.stratum = 0
	c.baseError, c.parentErr = 0, 0
	c.lastUpdate = local
}

// SetParent starts syncing to a new parent (or the same parent anew): the
// clock filter and the fit start empty, the frequency estimate is kept, and
// until the new edge has MinSamples samples the clock holds over on its
// current frequency. Calling it on the root demotes it.
func (c *Clock) SetParent(id string, local int64) {
	if c.root {
		// Freeze the output where it is; from now on it follows the parent.
		cur := c.Now(local)
		c.out = curve{local: local, net: cur, freq: c.out.freq, slewRate: c.out.slewRate}
		c.lastUpdate = local
	}
	c.root = false
	c.edge = c.newEdge(id)
}

// newEdge starts an edge whose filter begins with the node's frequency.
func (c *Clock) newEdge(parent string) *edge {
	e := &edge{parent: parent}
	v := c.freqVar
	if c.synced {
		v += reparentFreqVar
	}
	e.kf.start(c.out.freq, min(v, freshFreqVar))
	return e
}

// Unsync forgets that the clock is synced, so the next usable estimate is
// applied as one step in either direction, as on first sync. It is the
// runtime's escape hatch when this node's time and its new parent's differ
// by more than it is willing to slew (two networks merging after running on
// separate roots: an hour of difference would take 83 days at 500 ppm).
// The output keeps running meanwhile.
func (c *Clock) Unsync(local int64) {
	if c.root {
		// A root that gives up being the reference keeps running where it
		// is until it has a parent.
		cur := c.Now(local)
		c.out = curve{local: local, net: cur, freq: c.out.freq, slewRate: c.out.slewRate}
		c.root = false
	}
	c.synced = false
	if c.edge != nil {
		c.edge = c.newEdge(c.edge.parent)
	}
}

// NextPoll returns the local time at which the runtime should send the next
// request (a value ≤ local means now) and false when there is nobody to
// poll (root, or no parent). An unanswered request is simply superseded by
// the next one.
func (c *Clock) NextPoll(local int64) (int64, bool) {
	if c.root || c.edge == nil {
		return 0, false
	}
	e := c.edge
	if !e.haveReq {
		return local, true
	}
	iv := c.cfg.BurstInterval
	if c.synced && len(e.ring) >= c.cfg.FilterSize {
		// Poll again before an error in the frequency estimate can have
		// moved the time by more than pollBudget.
		iv = c.cfg.PollInterval
		if sd := math.Sqrt(e.kf.p11); sd > 0 {
			iv = time.Duration(max(min(pollBudget/sd, float64(c.cfg.PollInterval)), float64(c.cfg.BurstInterval)))
		}
	}
	return e.lastReq + int64(iv), true
}

// MakeRequest starts an exchange with the parent (t1). Only the latest
// request is outstanding; a response to an earlier one is refused.
func (c *Clock) MakeRequest(local int64) Request {
	c.seq++
	if e := c.edge; e != nil {
		e.pending, e.seq, e.t1 = true, c.seq, local
		e.lastReq, e.haveReq = local, true
	}
	return Request{Seq: c.seq, T1: local}
}

// Answer is the parent's side of an exchange: it stamps t2 and t3 with this
// node's network time at localRecv and localSend. It reads the output curve
// without moving Now's high-water mark, so an answer computed late for an
// early arrival still carries the right t2, and concurrent answers need only
// a read lock.
func (c *Clock) Answer(req Request, localRecv, localSend int64) Response {
	t2 := c.out.at(localRecv)
	t3 := max(c.out.at(localSend), t2)
	return Response{
		Seq:     req.Seq,
		T1:      req.T1,
		T2:      t2,
		T3:      t3,
		Synced:  c.synced,
		Stratum: uint8(min(c.stratum, math.MaxUint8)),
		Error:   min(c.errorAt(localSend), maxNetTime-1),
		Steps:   c.steps,
		Wander:  c.wanderPPB(),
	}
}

// wanderPPB is the rate wander advertised to children. The root's rate is
// the definition of network time: zero.
func (c *Clock) wanderPPB() uint32 {
	if c.root {
		return 0
	}
	if !c.synced {
		return maxWanderPPB
	}
	return uint32(min(math.Sqrt(c.wander*wanderUnit)*1e9, maxWanderPPB))
}

// OnResponse completes an exchange (t4 = local). accepted reports whether
// the sample passed the clock filter; a rejected sample (for instance a reply
// delayed by congestion) is not an error and changes nothing but the filter's
// memory. err is non-nil when the response is unusable; see the Err values.
func (c *Clock) OnResponse(resp Response, local int64) (accepted bool, err error) {
	if c.root {
		return false, ErrIsRoot
	}
	e := c.edge
	if e == nil {
		return false, ErrNoParent
	}
	if !e.pending || resp.Seq != e.seq || resp.T1 != e.t1 {
		return false, fmt.Errorf("%w: seq %d", ErrUnexpectedResponse, resp.Seq)
	}
	e.pending = false
	if err := resp.Validate(); err != nil {
		return false, err
	}
	if !resp.Synced {
		return false, ErrParentNotSynced
	}
	rtt, ok := sub(local, e.t1)
	if !ok || rtt < 0 {
		return false, fmt.Errorf("%w: t4 %d before t1 %d", ErrInvalidResponse, local, e.t1)
	}
	if rtt > int64(c.cfg.MaxRTT) {
		return false, fmt.Errorf("%w: round trip %v", ErrTooLate, time.Duration(rtt))
	}
	hold := resp.T3 - resp.T2 // Validate bounded both
	// The round trip is measured on our local clock; convert it to network
	// time units before subtracting the parent's hold time.
	delay := rtt + int64(math.Round(float64(rtt)*c.out.freq)) - hold
	if delay < 0 {
		// A hold time a little longer than our round trip is rounding and
		// frequency error; much longer is a parent lying about its stamps.
		if -delay > rtt/500+int64(time.Microsecond) {
			return false, fmt.Errorf("%w: parent held %v of a %v round trip", ErrInvalidResponse,
				time.Duration(hold), time.Duration(rtt))
		}
		delay = 0
	}
	mid := e.t1 + rtt/2
	offset, ok := sub(resp.T2+hold/2, mid)
	if !ok {
		return false, fmt.Errorf("%w: offset overflows", ErrInvalidResponse)
	}

	if e.haveSteps && resp.Steps != e.steps {
		// The parent's clock jumped: samples from before describe a clock
		// that no longer exists.
		ne := c.newEdge(e.parent)
		ne.lastReq, ne.haveReq = e.lastReq, e.haveReq
		*e = *ne
	}
	e.steps, e.haveSteps = resp.Steps, true
	c.stratum = int(resp.Stratum) + 1
	c.parentErr = resp.Error
	// The parent's rate changes are the child's frequency process noise.
	pw := float64(resp.Wander) * 1e-9
	e.kf.qf = freqNoise + pw*pw/wanderUnit
	c.lastDelay = delay

	s := sample{local: mid, offset: offset, delay: delay}
	accepted = e.push(s, c.cfg.FilterSize, c.cfg.MaxDelayRatio)
	if !accepted {
		c.rejected++
		return false, nil
	}
	c.accepted++
	minDelay := e.minDelay()
	if !e.primed {
		if len(e.ring) < c.cfg.MinSamples {
			return true, nil
		}
		// Enough samples to know the path's minimum delay: run the filter
		// over all of them that pass against it, oldest first.
		lim := delayLimit(minDelay, c.cfg.MaxDelayRatio)
		for _, r := range e.ring {
			if r.delay <= lim {
				e.kf.update(r, noise(r.delay, minDelay))
			}
		}
		e.primed = true
	} else {
		if d, ok := sub(s.offset, e.kf.offsetAt(s.local)); !ok || d > maxOffsetJump || d < -maxOffsetJump {
			// The parent's time moved absurdly without a step being
			// announced: start over on this edge with this sample.
			ne := c.newEdge(e.parent)
			ne.lastReq, ne.haveReq, ne.steps, ne.haveSteps = e.lastReq, e.haveReq, e.steps, e.haveSteps
			ne.push(s, c.cfg.FilterSize, c.cfg.MaxDelayRatio)
			c.edge = ne
			return true, nil
		}
		e.kf.update(s, noise(s.delay, minDelay))
	}
	c.minDelay = minDelay
	c.apply(local)
	return true, nil
}

// apply moves the output toward the fitted parent time: a step on first
// sync, otherwise a slew, with a bounded forward jump for what slewing cannot
// finish within one poll interval.
func (c *Clock) apply(local int64) {
	kf := &c.edge.kf
	target := local + kf.offsetAt(local)
	freq := kf.freq
	c.freqVar = kf.p11
	if c.synced {
		df := freq - c.out.freq
		dt := float64(max(local-c.lastUpdate, int64(c.cfg.BurstInterval)))
		c.wander += wanderGain * (df*df/dt - c.wander)
	} else {
		// A node that just synced will still learn its rate.
		c.wander = freshFreqVar / wanderUnit
	}
	c.lastUpdate = local
	c.baseError = c.parentErr + c.minDelay/2 + int64(2*kf.phaseSigma(local))

	if !c.synced {
		c.out = curve{local: local, net: target, freq: freq, slewRate: c.out.slewRate}
		c.lastOut = target
		c.lastOffset = 0
		c.synced = true
		c.steps++
		return
	}
	cur := c.Now(local)
	p := target - cur
	c.lastOffset = p
	if slewable := int64(c.cfg.MaxSlewPPM * 1e-6 * float64(c.cfg.PollInterval)); p > slewable && c.cfg.MaxStep > 0 {
		jump := min(p-slewable, int64(c.cfg.MaxStep))
		cur += jump
		p -= jump
		c.lastOut = cur
		c.jumps++
		c.jumped += jump
		c.steps++
	}
	c.out = curve{local: local, net: cur, freq: freq, slew: p, slewRate: c.out.slewRate}
}

// errorAt estimates the error against the root at local time l: the parent's
// error, half the best round trip (the worst case of asymmetric delay), what
// is left to slew, and dispersion growing with time since the last update.
func (c *Clock) errorAt(l int64) int64 {
	if c.root {
		return 0
	}
	age := max(l-c.lastUpdate, 0)
	rem := c.out.remaining(l)
	if rem < 0 {
		rem = -rem
	}
	return c.baseError + rem + int64(float64(age)*dispersionRate)
}

// Status is a snapshot for monitors and tests.
type Status struct {
	Synced bool
	Root   bool
	Parent string
	// Stratum is the hop count from the root (root = 0), as of the last
	// response.
	Stratum int
	// Offset is the last measured difference between the parent's time (as
	// fitted) and our output, before any correction.
	Offset time.Duration
	// Correction is what is still to be slewed at the queried instant.
	Correction time.Duration
	// Frequency is how much faster network time runs than the local clock,
	// ppm.
	Frequency float64
	// Delay is the last sample's round-trip delay; MinDelay the clock
	// filter's minimum.
	Delay, MinDelay time.Duration
	// EstimatedError bounds our error against the root, growing while no
	// samples arrive. Meaningful only when Synced.
	EstimatedError time.Duration
	// Samples is how many samples the clock filter holds for this edge.
	Samples int
	// Accepted and Rejected count samples over the clock's lifetime.
	Accepted, Rejected uint64
	// Jumps counts forward jumps after the first sync, JumpTotal their sum.
	Jumps     uint64
	JumpTotal time.Duration
	// Steps counts discontinuities announced to children.
	Steps uint32
}

// Status reports the clock's state at local time local.
func (c *Clock) Status(local int64) Status {
	s := Status{
		Synced:         c.synced,
		Root:           c.root,
		Stratum:        c.stratum,
		Offset:         time.Duration(c.lastOffset),
		Correction:     time.Duration(c.out.remaining(local)),
		Frequency:      c.out.freq * 1e6,
		Delay:          time.Duration(c.lastDelay),
		MinDelay:       time.Duration(c.minDelay),
		EstimatedError: time.Duration(c.errorAt(local)),
		Accepted:       c.accepted,
		Rejected:       c.rejected,
		Jumps:          c.jumps,
		JumpTotal:      time.Duration(c.jumped),
		Steps:          c.steps,
	}
	if c.edge != nil {
		s.Parent = c.edge.parent
		s.Samples = len(c.edge.ring)
	}
	return s
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
