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
