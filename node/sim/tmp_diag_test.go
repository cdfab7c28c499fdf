package sim

import (
	"testing"
	"time"

	"github.com/borgios/borgios/node/peertree"
)

func TestTmpDiag(t *testing.T) {
	seed := uint64(28)
	cfg := testConfig(seed)
	var s *Sim
	on := false
	cfg.OnEvent = func(i int, e peertree.Event) {
		if on && (e.Kind == peertree.EventRejected && (i == 105 || i == 203) || e.Kind == peertree.EventTakeover || e.Kind == peertree.EventDead && s.Node(i).Position() <= 3 || e.Kind == peertree.EventMerge || e.Kind == peertree.EventBecameRoot) {
			t.Logf("%v node %d (pos %d): %v", s.Now(), i, s.Node(i).Position(), e)
		}
	}
	s = New(cfg)
	grow(t, s, 1000, 250)
	settle(t, s, time.Minute)
	pos := map[int]int{}
	for i := 0; i < s.Len(); i++ {
		pos[s.Node(i).Position()] = i
	}
	killed := killRandom(s, 0.10, true)
	for _, k := range killed {
		if p := s.Node(k).Position(); p <= 12 {
			t.Logf("killed pos %d", p)
		}
	}
	on = true
	for j := 0; j < 40; j++ {
		s.RunFor(time.Second)
		r := s.Check()
		if j%5 == 0 || r.Complete {
			t.Logf("%v %v", s.Now(), r)
		}
		if r.Complete {
			break
		}
	}
}
