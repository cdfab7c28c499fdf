package sim

import (
	"testing"
	"time"
)

func TestTmpSeeds(t *testing.T) {
	for seed := uint64(100); seed < 200; seed++ {
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
		t.Logf("seed %d repaired in %v", seed, d)
	}
}
