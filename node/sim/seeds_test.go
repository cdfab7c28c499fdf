//go:build !race

package sim

import (
	"testing"
	"time"
)

// TestKill10PercentManySeeds repeats the kill-10%-including-root scenario
// on 1,000-node trees over many seeds and reports the worst repair time.
func TestKill10PercentManySeeds(t *testing.T) {
	worst := time.Duration(0)
	defer func() { t.Logf("worst repair over seeds: %v", worst) }()
	for seed := uint64(100); seed < 150; seed++ {
		s := New(testConfig(seed))
		grow(t, s, 1000, 250)
		if r, _ := settle(t, s, time.Minute); !r.Complete {
			t.Fatalf("seed %d initial tree: %v", seed, r)
		}
		killRandom(s, 0.10, true)
		r, d := settle(t, s, 3*time.Minute)
		if !r.Complete {
			t.Errorf("seed %d not repaired after %v: %v", seed, d, r)
			continue
		}
		worst = max(worst, d)
		if d > repairRounds*time.Second {
			t.Errorf("seed %d: repair took %v > %d heartbeats", seed, d, repairRounds)
		}
	}
}
