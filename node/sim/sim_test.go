package sim

import (
	"testing"
	"time"

	"github.com/borgios/borgios/node/peertree"
)

func testConfig(seed uint64) Config {
	return Config{Seed: seed, MinLatency: 5 * time.Millisecond, MaxLatency: 30 * time.Millisecond}
}

// grow adds n nodes in waves of `wave` started at the same instant, each
// knowing one random node added before it.
func grow(t testing.TB, s *Sim, n, wave int) {
	t.Helper()
	for added := 0; added < n; {
		base := s.Len()
		k := min(wave, n-added)
		for j := 0; j < k; j++ {
			if base == 0 && j == 0 {
				s.AddNode(nil)
				continue
			}
			s.AddNode([]int{s.rng.IntN(max(base, 1))})
		}
		added += k
		if base == 0 {
			s.RunFor(time.Second)
		} else {
			s.RunFor(3 * time.Second)
		}
	}
}

func settle(t testing.TB, s *Sim, limit time.Duration) (Report, time.Duration) {
	t.Helper()
	var r Report
	d := s.RunWhile(time.Second, limit, func() bool { r = s.Check(); return !r.Complete })
	return r, d
}

func TestSmallTreeForms(t *testing.T) {
	s := New(testConfig(1))
	grow(t, s, 200, 50)
	r, d := settle(t, s, time.Minute)
	if !r.Complete {
		t.Fatalf("not complete after %v: %v", d, r)
	}
	tr := s.Broadcast(57, []byte("hello"))
	s.RunFor(2 * time.Second)
	if tr.Count != 200 || tr.Dups != 0 {
		t.Fatalf("broadcast reached %d/200, dups %d", tr.Count, tr.Dups)
	}
	t.Logf("%v; hops %d msgs %d", r, tr.MaxHops, tr.Msgs)
	_ = peertree.KindUpdate
}

func killRandom(s *Sim, frac float64, includeRoot bool) []int {
	var live []int
	root := -1
	for i := 0; i < s.Len(); i++ {
		if s.Alive(i) {
			live = append(live, i)
			if s.Node(i).Status() == peertree.StatusRoot {
				root = i
			}
		}
	}
	k := int(float64(len(live)) * frac)
	s.rng.Shuffle(len(live), func(a, b int) { live[a], live[b] = live[b], live[a] })
	killed := live[:k]
	if includeRoot && root >= 0 {
		found := false
		for _, i := range killed {
			found = found || i == root
		}
		if !found {
			killed[0] = root
		}
	}
	for _, i := range killed {
		s.Kill(i)
	}
	return killed
}

func firstLive(s *Sim) int {
	for i := s.Len() - 1; i >= 0; i-- {
		if s.Alive(i) {
			return i
		}
	}
	return -1
}

func TestKill10Percent(t *testing.T) {
	s := New(testConfig(2))
	grow(t, s, 2000, 500)
	if r, _ := settle(t, s, time.Minute); !r.Complete {
		t.Fatalf("initial tree: %v", r)
	}
	killRandom(s, 0.10, true)
	r, d := settle(t, s, 3*time.Minute)
	if !r.Complete {
		t.Fatalf("not repaired after %v: %v", d, r)
	}
	tr := s.Broadcast(firstLive(s), []byte("after"))
	s.RunFor(2 * time.Second)
	t.Logf("repaired in %v: %v; broadcast %d/%d dups %d hops %d", d, r, tr.Count, r.Live, tr.Dups, tr.MaxHops)
	if tr.Count != r.Live || tr.Dups != 0 {
		t.Fatalf("broadcast reached %d/%d dups %d", tr.Count, r.Live, tr.Dups)
	}
}

func TestLossNeverDrops(t *testing.T) {
	s := New(testConfig(3))
	grow(t, s, 2000, 500)
	if r, _ := settle(t, s, time.Minute); !r.Complete {
		t.Fatalf("initial tree: %v", r)
	}
	before := s.Events
	s.SetLoss(0.05)
	s.RunFor(10 * time.Minute)
	s.SetLoss(0)
	r := s.Check()
	dead := s.Events[peertree.EventDead] - before[peertree.EventDead]
	rejoin := s.Events[peertree.EventRejoin] - before[peertree.EventRejoin]
	take := s.Events[peertree.EventTakeover] - before[peertree.EventTakeover]
	sus := s.Events[peertree.EventSuspect] - before[peertree.EventSuspect]
	t.Logf("after 10 virtual minutes at 5%% loss: %v; suspicions %d, dead %d, rejoins %d, takeovers %d, lost %d of %d msgs",
		r, sus, dead, rejoin, take, s.Lost, s.TotalSent())
	if dead != 0 || rejoin != 0 || take != 0 || !r.Complete || r.Size != 2000 {
		t.Fatalf("a node was dropped under loss")
	}
}

func splitTest(t *testing.T, seed uint64, n int, frac float64) {
	s := New(testConfig(seed))
	// Contacts: three random earlier nodes each, as a bootstrap list would give.
	s.AddNode(nil)
	for s.Len() < n {
		base := s.Len()
		for j := 0; j < 250 && s.Len() < n; j++ {
			s.AddNode([]int{s.rng.IntN(base), s.rng.IntN(base), s.rng.IntN(base)})
		}
		s.RunFor(3 * time.Second)
	}
	if r, _ := settle(t, s, time.Minute); !r.Complete {
		t.Fatalf("initial tree: %v", r)
	}
	for i := 0; i < n; i++ {
		if s.rng.Float64() >= frac {
			s.Partition(i, 1)
		}
	}
	s.RunFor(3 * time.Minute)
	during := s.Check()
	s.Heal()
	r, d := settle(t, s, 10*time.Minute)
	t.Logf("split %.0f/%.0f: during %v; healed in %v: %v", frac*100, (1-frac)*100, during, d, r)
	if !r.Complete || r.Size != n {
		t.Fatalf("did not end as one tree")
	}
	tr := s.Broadcast(firstLive(s), []byte("healed"))
	s.RunFor(2 * time.Second)
	if tr.Count != n || tr.Dups != 0 {
		t.Fatalf("broadcast after heal reached %d/%d dups %d", tr.Count, n, tr.Dups)
	}
}

func TestSplit5050(t *testing.T) { splitTest(t, 4, 2000, 0.5) }
func TestSplit7030(t *testing.T) { splitTest(t, 5, 2000, 0.7) }
