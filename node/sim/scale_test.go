//go:build !race

package sim

import (
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/borgios/borgios/node/peertree"
)

// joinKinds are the messages a join causes (heartbeats are periodic and not
// charged to joins).
var joinKinds = []peertree.Kind{peertree.KindRootQuery, peertree.KindRootInfo, peertree.KindJoinRequest,
	peertree.KindUpdate, peertree.KindUpdateAck, peertree.KindDelta, peertree.KindDeltaAck,
	peertree.KindSnapshot, peertree.KindSnapshotAck}

func joinMsgs(s *Sim) uint64 {
	var t uint64
	for _, k := range joinKinds {
		t += s.Sent[k]
	}
	return t
}

// maxHopsFor is the done-when bound ceil(log10 N)+1.
func maxHopsFor(n int) int { return int(math.Ceil(math.Log10(float64(n)))) + 1 }

type scaleResult struct {
	n             int
	stormPerJoin  float64
	singlePerJoin float64
	hops          int
	msgsPerNode   float64
	dups          int
	heapPerNode   float64
	wall          time.Duration
	virtual       time.Duration
	stormSettle   time.Duration
}

// runScale grows a tree of n nodes in storms of `storm` joiners started at
// the same instant, checks it, then measures single joins and a broadcast.
func runScale(t testing.TB, n, storm int) scaleResult {
	start := time.Now()
	var res scaleResult
	s := New(Config{Seed: 42, MinLatency: 5 * time.Millisecond, MaxLatency: 30 * time.Millisecond,
		Core: peertree.Config{MergeProbe: time.Hour}})
	s.AddNode(nil)
	s.RunFor(time.Second)
	const singles = 20
	m0 := joinMsgs(s)
	for s.Len() < n-singles {
		base := s.Len()
		k := min(storm, n-singles-base)
		for j := 0; j < k; j++ {
			s.AddNode([]int{s.rng.IntN(base)})
		}
		var r Report
		d := s.RunWhile(500*time.Millisecond, time.Minute, func() bool {
			r = s.quickPlaced()
			return r.Unplaced > 0
		})
		res.stormSettle = max(res.stormSettle, d)
		if r.Unplaced > 0 {
			t.Fatalf("storm at %d: %d joiners unplaced after %v", base, r.Unplaced, d)
		}
	}
	res.stormPerJoin = float64(joinMsgs(s)-m0) / float64(s.Len()-1)
	r, _ := settle(t, s, time.Minute)
	if !r.Complete || r.Size != s.Len() {
		t.Fatalf("tree of %d not complete: %v", s.Len(), r)
	}
	// Joins one at a time: the worst case for batching.
	m1 := joinMsgs(s)
	for j := 0; j < singles; j++ {
		s.AddNode([]int{s.rng.IntN(s.Len())})
		s.RunFor(400 * time.Millisecond)
	}
	res.singlePerJoin = float64(joinMsgs(s)-m1) / singles
	r, _ = settle(t, s, time.Minute)
	if !r.Complete || r.Size != n {
		t.Fatalf("tree of %d not complete after single joins: %v", n, r)
	}
	res.n = n
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.heapPerNode = float64(ms.HeapInuse) / float64(n)
	tr := s.Broadcast(n-1, []byte("to everyone"))
	s.RunFor(2 * time.Second)
	if tr.Count != n {
		t.Fatalf("broadcast reached %d of %d", tr.Count, n)
	}
	res.hops, res.dups = tr.MaxHops, tr.Dups
	res.msgsPerNode = float64(tr.Msgs) / float64(n-1)
	res.wall = time.Since(start)
	res.virtual = s.Now()
	return res
}

// quickPlaced counts unplaced live nodes without the full consistency check.
func (s *Sim) quickPlaced() Report {
	var r Report
	for _, sn := range s.nodes {
		if sn.alive {
			r.Live++
			if st := sn.core.Status(); st != peertree.StatusMember && st != peertree.StatusRoot {
				r.Unplaced++
			}
		}
	}
	return r
}

// Join cost bound (documented in PROTOCOL.md): with c contacts queried,
// a join costs at most 2c+9 messages in a batch of one and 2c+3 plus a
// per-batch share in a storm.
func checkScale(t *testing.T, res scaleResult) {
	t.Logf("N=%d: storm msgs/join %.3f, single msgs/join %.2f, broadcast hops %d (bound %d), msgs/node/broadcast %.4f, dups %d, heap/node %.0f B, storm settle ≤ %v, virtual %v, wall %v",
		res.n, res.stormPerJoin, res.singlePerJoin, res.hops, maxHopsFor(res.n), res.msgsPerNode, res.dups, res.heapPerNode, res.stormSettle, res.virtual, res.wall)
	const c = 1
	if res.stormPerJoin > 2*c+3+0.5 {
		t.Errorf("storm join cost %.3f > %d.5", res.stormPerJoin, 2*c+3)
	}
	if res.singlePerJoin > 2*c+9 {
		t.Errorf("single join cost %.2f > %d", res.singlePerJoin, 2*c+9)
	}
	if res.hops > maxHopsFor(res.n) {
		t.Errorf("broadcast took %d hops > %d", res.hops, maxHopsFor(res.n))
	}
	if res.dups != 0 || res.msgsPerNode > 1.0 {
		t.Errorf("broadcast not exactly once: dups %d msgs/node %.4f", res.dups, res.msgsPerNode)
	}
}

func TestScale100k(t *testing.T) {
	if testing.Short() {
		t.Skip("100k-node simulation skipped in -short")
	}
	checkScale(t, runScale(t, 100_000, 10_000))
}

func TestLossNeverDrops10k(t *testing.T) {
	s := New(testConfig(31))
	grow(t, s, 10_000, 2_500)
	if r, _ := settle(t, s, time.Minute); !r.Complete {
		t.Fatalf("initial tree: %v", r)
	}
	before := s.Events
	s.SetLoss(0.05)
	s.RunFor(10 * time.Minute)
	r := s.Check()
	dead := s.Events[peertree.EventDead] - before[peertree.EventDead]
	rejoin := s.Events[peertree.EventRejoin] - before[peertree.EventRejoin]
	sus := s.Events[peertree.EventSuspect] - before[peertree.EventSuspect]
	t.Logf("10,000 nodes, 10 virtual minutes at 5%% loss: %v; suspicions %d, dead %d, rejoins %d", r, sus, dead, rejoin)
	if dead != 0 || rejoin != 0 || !r.Complete || r.Size != 10_000 {
		t.Fatal("a node was dropped under loss")
	}
}

func TestKill10Percent100k(t *testing.T) {
	if testing.Short() {
		t.Skip("100k-node simulation skipped in -short")
	}
	s := New(Config{Seed: 43, MinLatency: 5 * time.Millisecond, MaxLatency: 30 * time.Millisecond})
	s.AddNode(nil)
	s.RunFor(time.Second)
	for s.Len() < 100_000 {
		base := s.Len()
		for j := 0; j < 10_000 && s.Len() < 100_000; j++ {
			s.AddNode([]int{s.rng.IntN(base), s.rng.IntN(base), s.rng.IntN(base)})
		}
		s.RunFor(2 * time.Second)
	}
	if r, _ := settle(t, s, time.Minute); !r.Complete {
		t.Fatalf("initial tree: %v", r)
	}
	killed := killRandom(s, 0.10, true)
	r, d := settle(t, s, 5*time.Minute)
	if !r.Complete || r.Size != 100_000-len(killed) {
		t.Fatalf("not repaired after %v: %v", d, r)
	}
	tr := s.Broadcast(firstLive(s), []byte("after"))
	s.RunFor(2 * time.Second)
	t.Logf("killed %d of 100,000 (root included): complete again in %v (%d heartbeat rounds, bound %d); broadcast %d/%d, dups %d, hops %d",
		len(killed), d, int(d/time.Second), repairRounds, tr.Count, r.Live, tr.Dups, tr.MaxHops)
	if d > repairRounds*time.Second || tr.Count != r.Live || tr.Dups != 0 {
		t.Fatal("repair bound or broadcast failed")
	}
}
