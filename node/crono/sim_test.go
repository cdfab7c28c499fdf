package crono

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// A small deterministic discrete-event simulation: one virtual true time,
// one Clock per node with its own skewed, drifting local clock, and links
// with per-direction base delays, random jitter, spikes and loss. It is the
// same Clock code a node runs; only the clocks and the network are virtual.
//
// Delay model, stated plainly because it bounds what any NTP-style method
// can achieve: each tree edge has a base one-way delay d ∈ [MinDelay,
// MaxDelay] toward the parent and d+a back, with a ∈ [-Asym, +Asym] fixed per
// edge. The offset error from a fixed asymmetry is a/2 and no protocol can
// see it, so per hop the irreducible error is up to Asym/2, and it adds up
// along a path. Every message additionally gets exponential jitter (mean
// Jitter, capped at 40 × mean), and with probability Spike a reply is held
// back by an extra 50–500 ms (queueing behind a bulk transfer). Loss drops
// messages in either direction. The parent holds a request 0–1 ms before
// answering.

type simConfig struct {
	Seed          uint64
	Fanout, Depth int
	Duration      time.Duration // virtual time simulated
	KillAt        time.Duration // when the root dies (0: never)
	Detect        time.Duration // time until the successor is promoted
	SampleEvery   time.Duration
	Settle        time.Duration // errors are asserted from here on
	Tolerance     time.Duration // "converged" means every node within this
	Skew          time.Duration // initial wall-clock error, ± uniform
	DriftPPM      float64       // local clock rate error, ± uniform
	MinDelay      time.Duration
	MaxDelay      time.Duration
	Asym          time.Duration
	Jitter        time.Duration
	Spike         float64
	Loss          float64
	Clock         Config
}

func defaultSim(seed uint64) simConfig {
	return simConfig{
		Seed:        seed,
		Fanout:      5,
		Depth:       4, // 1+5+25+125+625 = 781 nodes, 4 hops; 5 after the root dies
		Duration:    8 * time.Minute,
		KillAt:      4 * time.Minute,
		Detect:      3 * time.Second,
		SampleEvery: 250 * time.Millisecond,
		Settle:      2 * time.Minute,
		Tolerance:   5 * time.Millisecond,
		Skew:        time.Hour,
		DriftPPM:    100,
		MinDelay:    1 * time.Millisecond,
		MaxDelay:    20 * time.Millisecond,
		Asym:        500 * time.Microsecond,
		Jitter:      1 * time.Millisecond,
		Spike:       0.01,
		Loss:        0.01,
	}
}

type simResult struct {
	Nodes, MaxHops int
	// WorstAfterSettle is the largest |node − root| at any sample from
	// Settle to the end, including the root change.
	WorstAfterSettle time.Duration
	WorstNode        int
	WorstAt          time.Duration
	// ConvergedAt is when every node was within Tolerance for good (before
	// the kill); Reconverge is how long after the kill that took again
	// (0 if nobody ever left the tolerance).
	ConvergedAt time.Duration
	Reconverge  time.Duration
	// WorstAroundKill is the largest error from the kill to the end.
	WorstAroundKill time.Duration
	// MeanAtEnd is the mean |error| over all nodes at the last sample.
	MeanAtEnd time.Duration
	// Backwards counts observed decreases of any synced node's network time.
	Backwards int
	// MaxJump is the largest forward excess of a node's network time over
	// elapsed true time between two observations.
	MaxJump            time.Duration
	Jumps              uint64
	Accepted, Rejected uint64
	Errors             map[string]int
	Events             int
	Polls              int
	Digest             uint64
}

type simNode struct {
	id       int
	clk      *Clock
	l0       int64
	drift    float64
	parent   int
	alive    bool
	up, down int64 // base one-way delays on the edge to the parent
	edgeGen  uint64
	pollGen  uint64
	last     int64
	lastT    int64
	haveLast bool
	hops     int
}

func (n *simNode) local(t int64) int64 { return n.l0 + t + int64(float64(t)*n.drift) }

// trueAt is the first true time at which the local clock reads ≥ l.
func (n *simNode) trueAt(l int64) int64 {
	t := int64(math.Ceil(float64(l-n.l0) / (1 + n.drift)))
	for n.local(t) < l {
		t++
	}
	return t
}

type simEvent struct {
	t   int64
	seq uint64
	fn  func()
}

type eventQueue []simEvent

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].t != q[j].t {
		return q[i].t < q[j].t
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type sim struct {
	cfg   simConfig
	rng   *rand.Rand
	now   int64
	seq   uint64
	q     eventQueue
	nodes []*simNode
	root  int // current reference for error measurement
	res   simResult
	fail  error
}

const simUnixStart = int64(1_760_000_000) * int64(time.Second)

func (s *sim) at(t int64, fn func()) {
	s.seq++
	heap.Push(&s.q, simEvent{t: t, seq: s.seq, fn: fn})
}

func (s *sim) uniform(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + s.rng.Int64N(hi-lo+1)
}

func (s *sim) linkDelays() (up, down int64) {
	d := s.uniform(int64(s.cfg.MinDelay), int64(s.cfg.MaxDelay))
	a := s.uniform(-int64(s.cfg.Asym), int64(s.cfg.Asym))
	return d, max(d+a, int64(100*time.Microsecond))
}

func (s *sim) jitter() int64 {
	if s.cfg.Jitter == 0 {
		return 0
	}
	j := s.rng.ExpFloat64() * float64(s.cfg.Jitter)
	return int64(min(j, 40*float64(s.cfg.Jitter)))
}

func (s *sim) lost() bool { return s.cfg.Loss > 0 && s.rng.Float64() < s.cfg.Loss }

func newSim(cfg simConfig) (*sim, error) {
	s := &sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
	s.res.Errors = map[string]int{}
	count, width := 0, 1
	for d := 0; d <= cfg.Depth; d++ {
		count += width
		width *= cfg.Fanout
	}
	for i := range count {
		n := &simNode{
			id:     i,
			l0:     s.uniform(0, int64(24*time.Hour)),
			drift:  (s.rng.Float64()*2 - 1) * cfg.DriftPPM * 1e-6,
			parent: -1,
			alive:  true,
		}
		ccfg := cfg.Clock
		skew := s.uniform(-int64(cfg.Skew), int64(cfg.Skew))
		ccfg.Epoch = simUnixStart + skew - n.l0
		clk, err := New(ccfg)
		if err != nil {
			return nil, err
		}
		n.clk = clk
		if i > 0 {
			n.parent = (i - 1) / cfg.Fanout
			n.hops = s.nodes[n.parent].hops + 1
			n.up, n.down = s.linkDelays()
		}
		s.nodes = append(s.nodes, n)
		s.res.MaxHops = max(s.res.MaxHops, n.hops)
	}
	s.res.Nodes = count
	return s, nil
}

func simName(i int) string { return fmt.Sprintf("n%d", i) }

func (s *sim) schedulePoll(n *simNode, earliest int64) {
	at, ok := n.clk.NextPoll(n.local(s.now))
	if !ok {
		return
	}
	t := max(earliest, s.now, n.trueAt(at))
	n.pollGen++
	gen := n.pollGen
	s.at(t, func() {
		if gen == n.pollGen && n.alive {
			s.poll(n)
		}
	})
}

func (s *sim) poll(n *simNode) {
	req := n.clk.MakeRequest(n.local(s.now))
	s.res.Polls++
	s.schedulePoll(n, s.now)
	if n.parent < 0 || s.lost() {
		return
	}
	p := s.nodes[n.parent]
	gen := n.edgeGen
	s.at(s.now+n.up+s.jitter(), func() {
		if !p.alive {
			return
		}
		recv := p.local(s.now)
		s.at(s.now+s.uniform(0, int64(time.Millisecond)), func() {
			if !p.alive {
				return
			}
			resp := p.clk.Answer(req, recv, p.local(s.now))
			if s.lost() {
				return
			}
			d := n.down + s.jitter()
			if s.cfg.Spike > 0 && s.rng.Float64() < s.cfg.Spike {
				d += s.uniform(int64(50*time.Millisecond), int64(500*time.Millisecond))
			}
			s.at(s.now+d, func() {
				if !n.alive || n.edgeGen != gen {
					return
				}
				s.deliver(n, resp)
			})
		})
	})
}

func (s *sim) deliver(n *simNode, resp Response) {
	_, err := n.clk.OnResponse(resp, n.local(s.now))
	switch {
	case err == nil:
	case errors.Is(err, ErrParentNotSynced):
		s.res.Errors["parent not synced"]++
	case errors.Is(err, ErrUnexpectedResponse):
		s.res.Errors["superseded"]++
	case errors.Is(err, ErrTooLate):
		s.res.Errors["too late"]++
	default:
		s.res.Errors[err.Error()]++
		if s.fail == nil {
			s.fail = fmt.Errorf("node %d: %w", n.id, err)
		}
	}
	s.observe(n)
	s.schedulePoll(n, s.now)
}

// observe reads a node's network time and checks continuity: never
// backwards once synced, and forward jumps bounded.
func (s *sim) observe(n *simNode) int64 {
	v := n.clk.Now(n.local(s.now))
	if !n.clk.Synced() {
		n.haveLast = false
		return v
	}
	if n.haveLast {
		if v < n.last {
			s.res.Backwards++
			if s.fail == nil {
				s.fail = fmt.Errorf("node %d went back %v at %v", n.id, time.Duration(n.last-v), time.Duration(s.now))
			}
		}
		// Allow the fastest legitimate rate: drift + frequency + slew.
		dt := float64(s.now - n.lastT)
		excess := time.Duration(float64(v-n.last) - dt*(1+2*maxFreq+s.nodes[0].clk.cfg.MaxSlewPPM*1e-6))
		s.res.MaxJump = max(s.res.MaxJump, excess)
	}
	n.last, n.lastT, n.haveLast = v, s.now, true
	return v
}

func (s *sim) sample(digest *uint64) {
	ref := s.nodes[s.root]
	rv := s.observe(ref)
	var worst int64
	worstNode := -1
	var sum float64
	alive := 0
	for _, n := range s.nodes {
		if !n.alive {
			continue
		}
		v := rv
		if n != ref {
			v = s.observe(n)
		}
		e := v - rv
		*digest = (*digest ^ uint64(e)) * 1099511628211
		if e < 0 {
			e = -e
		}
		if e > worst {
			worst, worstNode = e, n.id
		}
		sum += float64(e)
		alive++
	}
	s.res.MeanAtEnd = time.Duration(sum / float64(alive))
	tol := int64(s.cfg.Tolerance)
	killed := s.cfg.KillAt > 0 && s.now >= int64(s.cfg.KillAt)
	if !killed && worst > tol {
		s.res.ConvergedAt = time.Duration(s.now + int64(s.cfg.SampleEvery))
	}
	if killed {
		s.res.WorstAroundKill = max(s.res.WorstAroundKill, time.Duration(worst))
		if worst > tol {
			s.res.Reconverge = time.Duration(s.now + int64(s.cfg.SampleEvery) - int64(s.cfg.KillAt))
		}
	}
	if s.now >= int64(s.cfg.Settle) && time.Duration(worst) > s.res.WorstAfterSettle {
		s.res.WorstAfterSettle = time.Duration(worst)
		s.res.WorstNode = worstNode
		s.res.WorstAt = time.Duration(s.now)
	}
}

// kill takes the root down now and, after Detect, promotes its first child
// and hangs the old root's other children under it, as the broadcast tree
// would.
func (s *sim) kill() {
	old := s.nodes[s.root]
	old.alive = false
	succ := s.nodes[s.root*s.cfg.Fanout+1]
	s.root = succ.id // measure against the successor from now on: its time continues
	s.at(s.now+int64(s.cfg.Detect), func() {
		succ.clk.SetRoot(succ.local(s.now))
		succ.parent = -1
		succ.edgeGen++
		for _, n := range s.nodes {
			if n.alive && n.parent == old.id && n != succ {
				n.parent = succ.id
				n.edgeGen++
				n.up, n.down = s.linkDelays()
				n.clk.SetParent(simName(succ.id), n.local(s.now))
				s.schedulePoll(n, s.now)
			}
		}
		s.recomputeHops()
	})
}

func (s *sim) recomputeHops() {
	for _, n := range s.nodes {
		h, p := 0, n.parent
		for p >= 0 {
			h++
			p = s.nodes[p].parent
		}
		n.hops = h
		s.res.MaxHops = max(s.res.MaxHops, h)
	}
}

func runSim(cfg simConfig) (simResult, error) {
	s, err := newSim(cfg)
	if err != nil {
		return simResult{}, err
	}
	root := s.nodes[0]
	root.clk.SetRoot(root.local(0))
	for _, n := range s.nodes[1:] {
		n.clk.SetParent(simName(n.parent), n.local(0))
		s.schedulePoll(n, s.uniform(0, int64(time.Second)))
	}
	var digest uint64 = 14695981039346656037
	end := int64(cfg.Duration)
	for t := int64(0); t <= end; t += int64(cfg.SampleEvery) {
		s.at(t, func() { s.sample(&digest) })
	}
	if cfg.KillAt > 0 {
		s.at(int64(cfg.KillAt), s.kill)
	}
	for s.q.Len() > 0 {
		ev := heap.Pop(&s.q).(simEvent)
		if ev.t > end {
			break
		}
		s.now = ev.t
		ev.fn()
		s.res.Events++
		if s.fail != nil {
			return s.res, s.fail
		}
	}
	for _, n := range s.nodes {
		st := n.clk.Status(n.local(s.now))
		s.res.Accepted += st.Accepted
		s.res.Rejected += st.Rejected
		s.res.Jumps += st.Jumps
	}
	s.res.Digest = digest
	return s.res, nil
}

func (r simResult) String() string {
	return fmt.Sprintf("nodes=%d hops=%d worst=%v (node %d at %v) converged=%v reconverge=%v worstAfterKill=%v mean=%v backwards=%d maxJump=%v jumps=%d accepted=%d rejected=%d polls=%d events=%d errors=%v",
		r.Nodes, r.MaxHops, r.WorstAfterSettle, r.WorstNode, r.WorstAt, r.ConvergedAt, r.Reconverge, r.WorstAroundKill,
		r.MeanAtEnd, r.Backwards, r.MaxJump, r.Jumps, r.Accepted, r.Rejected, r.Polls, r.Events, r.Errors)
}
