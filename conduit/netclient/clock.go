package netclient

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/crono"
	"github.com/borgios/borgios/node/netclock"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

const (
	// clockSamples is how many exchanges one node's measurement takes; the
	// one with the shortest round trip wins, as in NTP, because queueing
	// only ever adds delay and makes the two directions unequal.
	clockSamples = 3
	// clockNodes is how many crono nodes MeasureClock asks.
	clockNodes = 3
	// clockProbes bounds the nodes one bootstrap asks for their time.
	clockProbes = 5
	// clockAgree is how far two nodes' times may differ (beyond half their
	// round trips) and still count as agreeing.
	clockAgree = 2 * time.Second
	// voteTTL: a node's word about the time is forgotten after this, so
	// old evidence never combines with new.
	voteTTL = 2 * time.Minute
	// syncMinInterval spaces bootstraps: a node refusing our time while
	// the others agree with us (a liar, or a node whose own clock is off)
	// must not make every call ask the whole network.
	syncMinInterval = 3 * time.Second
)

// Where a clock correction came from.
const (
	ClockSourceSync     = "sync"     // NTP-style exchanges with crono nodes
	ClockSourceRefusals = "refusals" // nodes' signed refusals of our time
)

// ClockOffset is how far this computer's clock is from network time, and
// what the pool does about it.
type ClockOffset struct {
	// OffsetMs is network time minus this computer's clock, as measured.
	OffsetMs float64 `json:"offset_ms"`
	// AppliedMs is what the pool adds to this computer's clock right now:
	// the time every request is signed with and every answer checked
	// against is the computer's clock plus AppliedMs. It follows OffsetMs
	// once enough nodes agree (slewing, so it may lag a little).
	AppliedMs float64 `json:"applied_ms"`
	// RTTMs is the round trip of the sample used; the offset is uncertain
	// by up to half of it.
	RTTMs float64 `json:"rtt_ms"`
	// Node is the hex key of the node whose sample was used.
	Node string `json:"node"`
	// Synced says the node follows the network's time root (or is it);
	// an unsynced node's time is only its own guess. Refusals carry no
	// such flag and report true.
	Synced  bool    `json:"synced"`
	Stratum int     `json:"stratum"`
	ErrorMs float64 `json:"error_ms"`
	// Agreeing is how many nodes' times agreed with the sample used (it
	// included); the pool moves its clock only when at least two do.
	Agreeing int `json:"agreeing"`
	// Source is ClockSourceSync or ClockSourceRefusals.
	Source string `json:"source"`
	// Adjustment is what the pool last did with a measurement: ignored
	// (within a few hundred ms), slewed, stepped, or "disputed" (nodes
	// disagree and fewer than two agree: the clock was left alone).
	Adjustment string    `json:"adjustment"`
	At         time.Time `json:"at"`
}

// clockVote is one node's latest word on network time, as the keeper
// offset it implies.
type clockVote struct {
	node   string
	target int64 // keeper offset, ns
	rtt    time.Duration
	at     int64 // mono, ns
	// detail for the status
	synced  bool
	stratum int
	errMs   float64
	source  string
}

// mono is the pool's monotonic time, ns since it started.
func (p *Pool) mono() int64 { return time.Since(p.start).Nanoseconds() }

// Now is the pool's network time in Unix ms: the computer's clock when
// the pool started, plus the monotonic time since, plus the offset the
// nodes agreed on. Every client of the pool signs with it and checks
// answers against it.
func (p *Pool) Now() int64 { return p.keeper.now(p.mono()) / 1e6 }

// appliedMs is our time minus the computer's clock now.
func (p *Pool) appliedMs() float64 {
	return float64(p.keeper.now(p.mono()))/1e6 - float64(p.local())
}

// vote records node's sample s (taken with our clock, as TimeSample
// says), replacing its earlier word.
func (p *Pool) vote(node []byte, s cell.TimeSample, v clockVote) {
	mono := p.mono()
	cur, _ := p.keeper.offset(mono)
	v.node = string(node)
	v.target = cur + s.OffsetMs()*1e6
	v.rtt = s.RTT
	v.at = mono
	p.mu.Lock()
	p.votes[v.node] = v
	p.mu.Unlock()
}

// onClockError is every pool client's hook: a node refused our time. It
// records the node's word and asks the background loop for a refresh,
// whose calls bootstrap the clock if need be (calls made outside Do, such
// as the shard client's, cannot wait for that themselves).
func (p *Pool) onClockError(t cell.Target, ce *cell.ClockError) {
	p.vote(t.Key, ce.TimeSample, clockVote{synced: true, source: ClockSourceRefusals})
	p.mu.Lock()
	kick := time.Since(p.lastClockSync) >= syncMinInterval && time.Since(p.lastClockKick) >= syncMinInterval
	if kick {
		p.lastClockKick = time.Now()
	}
	p.mu.Unlock()
	if kick {
		p.kick()
	}
}

// decide moves the clock to what the largest group of agreeing nodes
// says, if it holds at least two nodes (or the embedded node, which is
// this process): the sample with the shortest round trip in that group
// wins. One node alone, or a group that lies, can only pull the clock
// within clockAgree of an honest node, or, if liars outnumber the honest
// nodes we asked, make our requests stale (see doc.go).
func (p *Pool) decide(source string) (ClockOffset, adjustment, error) {
	mono := p.mono()
	cur, _ := p.keeper.offset(mono)
	p.mu.Lock()
	var votes []clockVote
	for k, v := range p.votes {
		if time.Duration(mono-v.at) > voteTTL {
			delete(p.votes, k)
			continue
		}
		votes = append(votes, v)
	}
	embedded := ""
	if p.embedded != nil {
		embedded = string(p.embedded.PublicKey())
	}
	p.mu.Unlock()
	if len(votes) == 0 {
		return ClockOffset{}, adjustIgnored, errors.New("no node's time heard")
	}
	group := largestAgreeing(votes, cur)
	best := group[0]
	for _, v := range group[1:] {
		if v.rtt < best.rtt {
			best = v
		}
	}
	out := ClockOffset{
		RTTMs: float64(best.rtt.Microseconds()) / 1000, Node: hex.EncodeToString([]byte(best.node)),
		Synced: best.synced, Stratum: best.stratum, ErrorMs: best.errMs,
		Agreeing: len(group), Source: source, At: time.Now(),
	}
	// Network time minus the computer's clock: our time with the winning
	// offset instead of the current one.
	out.OffsetMs = float64(p.keeper.base+mono+best.target)/1e6 - float64(p.local())
	trusted := len(group) >= 2 || (len(group) == 1 && best.node == embedded)
	adj := adjustIgnored
	var err error
	if trusted {
		var d time.Duration
		adj, d = p.keeper.adjust(best.target, mono)
		out.Adjustment = adj.String()
		if adj == adjustStepped && d < -wire.DefaultWindow {
			// Answers are now checked against an earlier time than the
			// replay guard has already pruned to; a fresh guard loses
			// nothing (every answer is bound to a request whose nonce is
			// fresh) and does not refuse them all until we catch up.
			p.verifier.renew()
		}
		log := p.log.Info
		if adj == adjustStepped {
			log = p.log.Warn
		}
		if adj != adjustIgnored {
			log("clock: using network time, as "+fmt.Sprint(len(group))+" nodes agree",
				"adjustment", adj, "correction", d.Round(time.Millisecond), "computer_clock_offset", time.Duration(out.OffsetMs*1e6).Round(time.Millisecond),
				"source", source, "node", out.Node[:12], "rtt", best.rtt.Round(time.Microsecond), "heard", len(votes))
		}
	} else {
		out.Adjustment = "disputed"
		says := time.Duration(best.target - cur).Round(time.Millisecond)
		if says.Abs() < minAdjust {
			out.Adjustment = adjustIgnored.String() // nothing to dispute
		}
		switch {
		case len(votes) == 1:
			err = fmt.Errorf("only node %s told us its time; it takes two that agree", out.Node[:12])
			if says.Abs() >= minAdjust {
				p.log.Warn("clock: one node says our clock is off; keeping ours until a second one agrees",
					"node", out.Node[:12], "correction_it_wants", says)
			}
		default:
			err = fmt.Errorf("%d nodes told us their time, no two agree", len(votes))
			p.log.Warn("clock: nodes disagree about the time and no two agree; keeping ours",
				"heard", len(votes), "node", out.Node[:12], "correction_it_wants", says)
		}
	}
	out.AppliedMs = p.appliedMs()
	p.mu.Lock()
	p.clock = &out
	p.mu.Unlock()
	return out, adj, err
}

// largestAgreeing returns the largest set of votes that agree with one of
// them; between equally large sets, the one needing the smallest change
// to cur.
func largestAgreeing(votes []clockVote, cur int64) []clockVote {
	sort.Slice(votes, func(i, j int) bool { return votes[i].node < votes[j].node }) // deterministic
	var best []clockVote
	bestChange := time.Duration(0)
	for _, a := range votes {
		var g []clockVote
		for _, b := range votes {
			if time.Duration(a.target-b.target).Abs() <= clockAgree+(a.rtt+b.rtt)/2 {
				g = append(g, b)
			}
		}
		change := time.Duration(a.target - cur).Abs()
		if len(g) > len(best) || (len(g) == len(best) && change < bestChange) {
			best, bestChange = g, change
		}
	}
	return best
}

// MeasureClock measures the offset to network time NTP-style against up
// to three crono endpoints (each failing over like DoAt), keeps the one
// sample with the shortest round trip among those that at least two
// nodes agree with, and moves the pool's clock to it when it differs by
// more than a few hundred ms (slewing, or stepping a large correction).
// The result is also what Status reports.
func (p *Pool) MeasureClock(ctx context.Context) (ClockOffset, error) {
	cands := p.candidates(netclock.DNA.Name, nil)
	if len(cands) == 0 {
		return ClockOffset{}, fmt.Errorf("netclient: measuring the clock: %w %q", ErrNoEndpoints, netclock.DNA.Name)
	}
	cands = cands[:min(len(cands), clockNodes)]
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		ok   int
	)
	for _, t := range cands {
		wg.Go(func() {
			err := p.DoAt(ctx, t, func(ctx context.Context, t cell.Target) error {
				var best *ntpSample
				for i := range clockSamples {
					s, err := p.clockSample(ctx, t, uint64(i+1))
					if err != nil {
						return err
					}
					if best == nil || s.rtt < best.rtt {
						best = &s
					}
				}
				p.voteNTP(t, *best)
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", shortKey(t.Key), err))
			} else {
				ok++
			}
		})
	}
	wg.Wait()
	if ok == 0 {
		return ClockOffset{}, fmt.Errorf("netclient: measuring the clock: %w", errors.Join(append([]error{ErrAllFailed}, errs...)...))
	}
	out, _, err := p.decide(ClockSourceSync)
	if err != nil && out.Node == "" {
		return ClockOffset{}, fmt.Errorf("netclient: measuring the clock: %w", err)
	}
	// A disputed measurement is still a measurement: Status shows it.
	return out, nil
}

// ntpSample is one NTP-style exchange: the keeper offset it implies.
type ntpSample struct {
	target int64
	rtt    time.Duration
	r      crono.Response
}

func (p *Pool) voteNTP(t cell.Target, s ntpSample) {
	p.mu.Lock()
	p.votes[string(t.Key)] = clockVote{
		node: string(t.Key), target: s.target, rtt: s.rtt, at: p.mono(),
		synced: s.r.Synced, stratum: int(s.r.Stratum), errMs: float64(s.r.Error) / 1e6, source: ClockSourceSync,
	}
	p.mu.Unlock()
}

// clockSample is one NTP-style exchange. T1 is our network time in ns
// (the node only echoes it); the round trip is measured on the monotonic
// clock, and the offset the node's T2/T3 imply is taken against our
// offset when the exchange began, so that a slew in between cannot
// distort it.
func (p *Pool) clockSample(ctx context.Context, t cell.Target, seq uint64) (ntpSample, error) {
	m1 := p.mono()
	cur, _ := p.keeper.offset(m1)
	t1 := p.keeper.base + m1 + cur
	payload, err := wire.Marshal(crono.Request{Seq: seq, T1: t1})
	if err != nil {
		return ntpSample{}, err
	}
	raw, err := p.anon.Call(ctx, t, netclock.DNA, netclock.KindSync, payload)
	rtt := time.Duration(p.mono() - m1)
	if err != nil {
		return ntpSample{}, err
	}
	r, err := netclock.DecodeResponse(raw)
	if err != nil {
		return ntpSample{}, cell.Errorf(cell.CodeBadAnswer, "%v", err)
	}
	if r.Seq != seq || r.T1 != t1 {
		return ntpSample{}, cell.Errorf(cell.CodeBadAnswer, "time answer for another request")
	}
	t4 := t1 + rtt.Nanoseconds()
	off := ((r.T2 - t1) + (r.T3 - t4)) / 2
	return ntpSample{target: cur + off, rtt: rtt, r: r}, nil
}

// fixClock runs when a call at some node came back with a ClockError. It
// bootstraps the clock from the nodes' signed times unless another caller
// already did (gen, syncs: the keeper's generation and the sync count
// when the failed call began) or did so a moment ago, and reports whether
// the clock moved since the call began, so the caller retries.
func (p *Pool) fixClock(ctx context.Context, gen uint64, syncs uint64) bool {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	if p.keeper.generation() != gen {
		return true
	}
	p.mu.Lock()
	skip := p.syncs != syncs || time.Since(p.lastClockSync) < syncMinInterval
	p.mu.Unlock()
	if skip {
		return false
	}
	p.syncClock(ctx)
	p.mu.Lock()
	p.syncs++
	p.lastClockSync = time.Now()
	p.mu.Unlock()
	return p.keeper.generation() != gen
}

// probeTarget is a node to ask for its time and a cell it serves.
type probeTarget struct {
	t   cell.Target
	dna cell.DNA
}

// syncClock asks up to clockProbes nodes for their signed time (the
// refusals of our time count as much as answers) and lets decide move the
// clock. With fewer than two nodes known (a single bootstrap contact), it
// first asks a node that refused our time for its registry, signing that
// one request with the node's own time: only to learn whom else to ask,
// each of whom then answers for itself.
func (p *Pool) syncClock(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ProbeTimeout)
	defer cancel()
	targets := p.probeTargets()
	if len(targets) < 2 {
		targets = p.learnProbeTargets(ctx, targets)
	}
	var wg sync.WaitGroup
	for _, pt := range targets[:min(len(targets), clockProbes)] {
		wg.Go(func() {
			actx, cancel := context.WithTimeout(ctx, p.timeout(pt.t))
			defer cancel()
			s, err := p.anon.NodeTime(actx, pt.t, pt.dna)
			if err != nil {
				p.log.Debug("clock: probe", "node", shortKey(pt.t.Key), "err", err)
				return
			}
			p.vote(pt.t.Key, s, clockVote{synced: true, source: ClockSourceRefusals})
		})
	}
	wg.Wait()
	if _, _, err := p.decide(ClockSourceRefusals); err != nil {
		p.log.Debug("clock: bootstrap", "err", err)
	}
}

// probeDNA picks a cell a node serves to ask it the time with.
func probeDNA(cells map[string]bool) (cell.DNA, bool) {
	for _, d := range []cell.DNA{registry.DNA, netclock.DNA, shard.DNA} {
		if cells[d.Name] {
			return d, true
		}
	}
	return cell.DNA{}, false
}

// probeTargets lists the known endpoints, those not down first.
func (p *Pool) probeTargets() []probeTarget {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	var out []probeTarget
	for _, ep := range p.endpoints {
		if d, ok := probeDNA(ep.cells); ok {
			out = append(out, probeTarget{t: ep.target, dna: d})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		di := p.endpoints[string(out[i].t.Key)].isDown(now)
		dj := p.endpoints[string(out[j].t.Key)].isDown(now)
		return !di && dj
	})
	return out
}

// learnProbeTargets adds the nodes a refusing node's registry lists. The
// request is signed, and the answer checked, with that node's time (a
// throwaway client and replay guard): if the node lied, the worst it can
// do is list nodes that then refuse us, as any registry can.
func (p *Pool) learnProbeTargets(ctx context.Context, have []probeTarget) []probeTarget {
	mono := p.mono()
	p.mu.Lock()
	var from *clockVote
	for _, v := range p.votes {
		if time.Duration(mono-v.at) <= voteTTL && p.endpoints[v.node] != nil && p.endpoints[v.node].cells[registry.DNA.Name] {
			if from == nil || v.rtt < from.rtt {
				v := v
				from = &v
			}
		}
	}
	var t cell.Target
	if from != nil {
		t = p.endpoints[from.node].target
	}
	p.mu.Unlock()
	if from == nil {
		return have
	}
	offset := from.target
	theirs := func() int64 { return (p.keeper.base + p.mono() + offset) / 1e6 }
	c := &cell.Client{
		Transport: p.tr, Key: p.anon.Key, Network: p.cfg.Network, Now: theirs, Meter: p.traffic,
		Verifier: wire.NewVerifier(wire.Config{Network: p.cfg.Network, Now: theirs}),
	}
	actx, cancel := context.WithTimeout(ctx, p.timeout(t))
	defer cancel()
	entries, err := registry.Dump(actx, c, t)
	p.log.Debug("clock: asked a refusing node whom else to ask", "node", shortKey(t.Key), "listed", len(entries), "err", err)
	if err != nil {
		return have
	}
	seen := map[string]bool{}
	for _, pt := range have {
		seen[string(pt.t.Key)] = true
	}
	for _, e := range entries {
		if seen[string(e.Node)] || len(e.Addrs) == 0 {
			continue
		}
		cells := map[string]bool{}
		for _, c := range e.Cells {
			cells[c.Name] = true
		}
		if d, ok := probeDNA(cells); ok {
			seen[string(e.Node)] = true
			have = append(have, probeTarget{t: cell.Target{Key: e.Node, Addr: e.Addrs[0]}, dna: d})
		}
	}
	return have
}
