package crono

import (
	"testing"
	"time"
)

func TestSimVariants(t *testing.T) {
	v := map[string]func(*simConfig){
		"jitter2ms_asym1ms":  func(c *simConfig) { c.Jitter = 2 * time.Millisecond; c.Asym = time.Millisecond },
		"m10_d3":             func(c *simConfig) { c.Fanout, c.Depth = 10, 3 },
		"m2_d7":              func(c *simConfig) { c.Fanout, c.Depth = 2, 7 },
		"spike5pct_loss5pct": func(c *simConfig) { c.Spike, c.Loss = 0.05, 0.05 },
		"delay50-200ms":      func(c *simConfig) { c.MinDelay, c.MaxDelay = 50*time.Millisecond, 200*time.Millisecond },
		"nofilter":           func(c *simConfig) { c.Clock.FilterSize, c.Clock.MinSamples = 1, 1 },
	}
	for name, f := range v {
		cfg := defaultSim(1)
		f(&cfg)
		res, err := runSim(cfg)
		t.Logf("%s: %v err=%v", name, res, err)
	}
}
