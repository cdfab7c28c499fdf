package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/borgios/borgios/node/peertree"
)

// Config describes the simulated network.
type Config struct {
	Seed       uint64
	MinLatency time.Duration // one-way latency is uniform in [MinLatency, MaxLatency]
	MaxLatency time.Duration
	// Latency, if set, replaces the uniform distribution: it returns the
	// one-way delay of one message on the link from → to, drawing any
	// randomness from r (the simulation's seeded source).
	Latency func(r *rand.Rand, from, to int) time.Duration
	Loss    float64 // probability that any one message is lost
	// Core is the template for every node's configuration (Self and Rand
	// are filled in per node).
	Core peertree.Config
	// Encode round-trips every message through EncodeMessage/DecodeMessage,
	// as the real runtime does (slower; for codec coverage).
	Encode bool
	// OnEvent, if set, sees every core event.
	OnEvent func(node int, e peertree.Event)
	// OnSend, if set, sees every message a core emits (before loss).
	OnSend func(from, to int, m peertree.Message)
}

type simNode struct {
	id     peertree.NodeID
	sent   uint32 // messages this node emitted
	core   *peertree.Node
	alive  bool
	gen    uint32
	group  int32
	tickAt time.Duration
	ticked bool // a tick event at tickAt is queued
}

type event struct {
	at   time.Duration
	seq  uint64
	to   int32
	from int32
	hops int32
	gen  uint32
	msg  peertree.Message // nil: a timer tick
}

// Sim is one simulated network. It is single-threaded and deterministic.
type Sim struct {
	cfg   Config
	rng   *rand.Rand
	now   time.Duration
	seq   uint64
	q     []event
	nodes []*simNode
	trace uint64

	// Sent counts messages handed to the network per kind (lost ones included).
	Sent [peertree.NumKinds]uint64
	// Lost counts messages dropped by loss or partitions.
	Lost uint64
	// Events counts core events per kind.
	Events [32]uint64

	bcasts map[[32]byte]*Track
	bseq   uint64
}

// Track follows one broadcast through the network.
type Track struct {
	ID        [32]byte
	Origin    int
	Delivered []uint8 // per node: how many times the core delivered it
	Count     int     // distinct nodes that delivered it
	Dups      int     // deliveries beyond the first (must stay 0)
	MaxHops   int
	Msgs      int // Broadcast messages sent for it
}

// New returns an empty network at virtual time 0.
func New(cfg Config) *Sim {
	if cfg.MaxLatency < cfg.MinLatency {
		cfg.MaxLatency = cfg.MinLatency
	}
	return &Sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), bcasts: map[[32]byte]*Track{}}
}

// Now returns the virtual time.
func (s *Sim) Now() time.Duration { return s.now }

// Len returns how many nodes were ever added.
func (s *Sim) Len() int { return len(s.nodes) }

// Node returns node i's core (for inspection only).
func (s *Sim) Node(i int) *peertree.Node { return s.nodes[i].core }

// Alive reports whether node i is running.
func (s *Sim) Alive(i int) bool { return s.nodes[i].alive }

// IDOf returns node i's ID. The first four bytes are the index, so the
// network can route without a lookup table; the rest is seeded randomness.
func (s *Sim) IDOf(i int) peertree.NodeID {
	var id peertree.NodeID
	binary.BigEndian.PutUint32(id[:4], uint32(i)+1)
	var seed [12]byte
	binary.BigEndian.PutUint64(seed[:], s.cfg.Seed)
	binary.BigEndian.PutUint32(seed[8:], uint32(i))
	h := sha256.Sum256(seed[:])
	copy(id[4:], h[:28])
	return id
}

func (s *Sim) indexOf(id peertree.NodeID) int {
	return int(binary.BigEndian.Uint32(id[:4])) - 1
}

// IndexOf maps an ID back to its node index (-1 if not a sim node).
func (s *Sim) IndexOf(id peertree.NodeID) int {
	i := s.indexOf(id)
	if i < 0 || i >= len(s.nodes) || s.nodes[i].id != id {
		return -1
	}
	return i
}

// MemberOf returns node i as a Member. Addresses are left empty: the
// simulated network routes by ID.
func (s *Sim) MemberOf(i int) peertree.Member {
	if i < len(s.nodes) {
		return peertree.Member{ID: s.nodes[i].id}
	}
	return peertree.Member{ID: s.IDOf(i)}
}

func (s *Sim) newCore(i int) *peertree.Node {
	cfg := s.cfg.Core
	cfg.Self = s.MemberOf(i)
	cfg.Rand = rand.New(rand.NewPCG(s.rng.Uint64(), uint64(i)))
	return peertree.New(cfg)
}

// AddNode creates node i = Len() and starts it now with the given contacts.
func (s *Sim) AddNode(contacts []int) int {
	i := len(s.nodes)
	sn := &simNode{alive: true, id: s.IDOf(i)}
	s.nodes = append(s.nodes, sn)
	sn.core = s.newCore(i)
	cs := make([]peertree.Member, 0, len(contacts))
	for _, c := range contacts {
		cs = append(cs, s.MemberOf(c))
	}
	s.process(i, sn.core.Start(s.now, cs), 0)
	return i
}

// Kill stops node i at once (no goodbye, like kill -9).
func (s *Sim) Kill(i int) { s.nodes[i].alive = false }

// Restart replaces node i with a fresh core (same key, empty state) that
// starts now with the given contacts.
func (s *Sim) Restart(i int, contacts []int) {
	sn := s.nodes[i]
	sn.alive = true
	sn.gen++
	sn.ticked = false
	sn.core = s.newCore(i)
	cs := make([]peertree.Member, 0, len(contacts))
	for _, c := range contacts {
		cs = append(cs, s.MemberOf(c))
	}
	s.process(i, sn.core.Start(s.now, cs), 0)
}

// Partition puts node i into group g; nodes in different groups cannot
// exchange messages (in flight ones included). Group 0 is the default.
func (s *Sim) Partition(i int, g int) { s.nodes[i].group = int32(g) }

// Heal puts every node back into group 0.
func (s *Sim) Heal() {
	for _, n := range s.nodes {
		n.group = 0
	}
}

// Broadcast makes node i broadcast payload and returns its tracker.
func (s *Sim) Broadcast(i int, payload []byte) *Track {
	s.bseq++
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], s.cfg.Seed)
	binary.BigEndian.PutUint64(b[8:], s.bseq)
	id := sha256.Sum256(b[:])
	t := &Track{ID: id, Origin: i, Delivered: make([]uint8, len(s.nodes))}
	s.bcasts[id] = t
	s.process(i, s.nodes[i].core.Broadcast(s.now, id, payload), 0)
	return t
}

// Forget stops tracking a broadcast (frees its per-node counters).
func (s *Sim) Forget(t *Track) { delete(s.bcasts, t.ID) }

// RunFor advances virtual time by d, processing every event on the way.
func (s *Sim) RunFor(d time.Duration) { s.RunUntil(s.now + d) }

// RunUntil processes events up to and including time t.
func (s *Sim) RunUntil(t time.Duration) {
	for len(s.q) > 0 && s.q[0].at <= t {
		ev := s.pop()
		s.now = ev.at
		s.dispatch(ev)
	}
	if t > s.now {
		s.now = t
	}
}

// RunWhile runs in steps of `step` until cond is false or `limit` passed;
// it returns the time spent.
func (s *Sim) RunWhile(step, limit time.Duration, cond func() bool) time.Duration {
	start := s.now
	for cond() && s.now-start < limit {
		s.RunFor(step)
	}
	return s.now - start
}

func (s *Sim) dispatch(ev event) {
	sn := s.nodes[ev.to]
	if ev.msg == nil {
		if !sn.alive || ev.gen != sn.gen || ev.at != sn.tickAt || !sn.ticked {
			return
		}
		sn.ticked = false
		s.mix(uint64(ev.at), uint64(ev.to), 0)
		s.process(int(ev.to), sn.core.Tick(s.now), 0)
		return
	}
	if !sn.alive || s.nodes[ev.from].group != sn.group {
		s.Lost++
		return
	}
	s.mix(uint64(ev.at), uint64(ev.to)<<32|uint64(ev.from), uint64(ev.msg.Kind()))
	s.process(int(ev.to), sn.core.Step(s.now, s.nodes[ev.from].id, ev.msg), int(ev.hops))
}

func (s *Sim) process(i int, rd peertree.Ready, hops int) {
	for _, d := range rd.Delivered {
		if t := s.bcasts[d.ID]; t != nil {
			if i >= len(t.Delivered) {
				t.Delivered = append(t.Delivered, make([]uint8, i+1-len(t.Delivered))...)
			}
			if t.Delivered[i] > 0 {
				t.Dups++
			} else {
				t.Count++
			}
			if t.Delivered[i] < 255 {
				t.Delivered[i]++
			}
			t.MaxHops = max(t.MaxHops, hops)
		}
	}
	for _, e := range rd.Events {
		s.Events[e.Kind]++
		if s.cfg.OnEvent != nil {
			s.cfg.OnEvent(i, e)
		}
	}
	s.nodes[i].sent += uint32(len(rd.Messages))
	for _, o := range rd.Messages {
		k := o.Msg.Kind()
		s.Sent[k]++
		h := 0
		if b, ok := o.Msg.(*peertree.Broadcast); ok {
			h = hops + 1
			if t := s.bcasts[b.ID]; t != nil {
				t.Msgs++
			}
		}
		to := s.indexOf(o.To.ID)
		if to < 0 || to >= len(s.nodes) {
			s.Lost++
			continue
		}
		if s.cfg.OnSend != nil {
			s.cfg.OnSend(i, to, o.Msg)
		}
		if s.cfg.Loss > 0 && s.rng.Float64() < s.cfg.Loss {
			s.Lost++
			continue
		}
		msg := o.Msg
		if s.cfg.Encode {
			b, err := peertree.EncodeMessage(msg)
			if err != nil {
				panic(fmt.Sprintf("sim: encode %s: %v", k, err))
			}
			if msg, err = peertree.DecodeMessage(b); err != nil {
				panic(fmt.Sprintf("sim: decode %s: %v", k, err))
			}
		}
		var lat time.Duration
		if s.cfg.Latency != nil {
			lat = max(0, s.cfg.Latency(s.rng, i, to))
		} else {
			lat = s.cfg.MinLatency
			if span := s.cfg.MaxLatency - s.cfg.MinLatency; span > 0 {
				lat += time.Duration(s.rng.Int64N(int64(span) + 1))
			}
		}
		s.push(event{at: s.now + lat, to: int32(to), from: int32(i), hops: int32(h), msg: msg})
	}
	sn := s.nodes[i]
	if next := rd.NextTick; !sn.ticked || next != sn.tickAt {
		if next < s.now {
			next = s.now
		}
		sn.tickAt, sn.ticked = next, true
		s.push(event{at: next, to: int32(i), gen: sn.gen})
	}
}

// mix folds an event into the run's trace hash (FNV-1a over 64-bit words).
func (s *Sim) mix(a, b, c uint64) {
	h := s.trace
	if h == 0 {
		h = 14695981039346656037
	}
	for _, w := range [3]uint64{a, b, c} {
		h ^= w
		h *= 1099511628211
	}
	s.trace = h
}

// TraceHash summarises every event processed so far; equal seeds and
// scenarios must give equal hashes.
func (s *Sim) TraceHash() uint64 { return s.trace }

// SentBy returns how many messages node i has emitted.
func (s *Sim) SentBy(i int) uint32 { return s.nodes[i].sent }

// TotalSent is the number of messages handed to the network.
func (s *Sim) TotalSent() uint64 {
	var t uint64
	for _, v := range s.Sent {
		t += v
	}
	return t
}

// --- event queue: a binary min-heap ordered by (time, sequence) ---

func (s *Sim) push(e event) {
	s.seq++
	e.seq = s.seq
	s.q = append(s.q, e)
	i := len(s.q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(&s.q[i], &s.q[p]) {
			break
		}
		s.q[i], s.q[p] = s.q[p], s.q[i]
		i = p
	}
}

func (s *Sim) pop() event {
	top := s.q[0]
	last := len(s.q) - 1
	s.q[0] = s.q[last]
	s.q[last] = event{}
	s.q = s.q[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= last {
			break
		}
		m := l
		if r := l + 1; r < last && less(&s.q[r], &s.q[l]) {
			m = r
		}
		if !less(&s.q[m], &s.q[i]) {
			break
		}
		s.q[i], s.q[m] = s.q[m], s.q[i]
		i = m
	}
	return top
}

func less(a, b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// SetLoss changes the loss rate from now on.
func (s *Sim) SetLoss(p float64) { s.cfg.Loss = p }

// Deliver hands the network a Ready that a test obtained by calling a core
// directly (e.g. Leave), as if the core had produced it inside the run.
func (s *Sim) Deliver(i int, rd peertree.Ready) { s.process(i, rd, 0) }
