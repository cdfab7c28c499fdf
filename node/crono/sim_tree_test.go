package crono

import (
	"testing"
	"time"
)

// TestSimTreeSync runs 781 nodes (fan-out 5, four hops) with clocks up to an
// hour wrong and ±100 ppm fast or slow for eight virtual minutes, kills the
// root at four minutes and promotes its first child. See sim_test.go for the
// delay model.
func TestSimTreeSync(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	if testing.Short() || raceEnabled {
		seeds = seeds[:1]
	}
	for _, seed := range seeds {
		cfg := defaultSim(seed)
		res, err := runSim(cfg)
		t.Logf("seed %d: %v", seed, res)
		if err != nil {
			t.Fatal(err)
		}
		if res.Backwards != 0 {
			t.Fatalf("network time went backwards %d times", res.Backwards)
		}
		if res.WorstAfterSettle > cfg.Tolerance {
			t.Fatalf("worst error %v after %v exceeds %v", res.WorstAfterSettle, cfg.Settle, cfg.Tolerance)
		}
		if res.ConvergedAt > cfg.Settle {
			t.Fatalf("converged only at %v", res.ConvergedAt)
		}
		// Across the root change every node stays within tolerance of the
		// new root (Reconverge 0), and nobody jumped.
		if res.WorstAroundKill > cfg.Tolerance {
			t.Fatalf("worst error %v after the root died", res.WorstAroundKill)
		}
		if res.Jumps != 0 || res.MaxJump > 0 {
			t.Fatalf("%d forward jumps, the largest %v", res.Jumps, res.MaxJump)
		}
		if res.Rejected == 0 {
			t.Fatal("no sample was rejected although 1% of replies are delayed up to 500 ms")
		}
	}
}

func TestSimDeterministic(t *testing.T) {
	cfg := defaultSim(42)
	cfg.Fanout, cfg.Depth = 3, 3
	cfg.Duration, cfg.KillAt = 3*time.Minute, 2*time.Minute
	a, err := runSim(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := runSim(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != b.Digest || a.String() != b.String() {
		t.Fatalf("same seed, different runs:\n%v\n%v", a, b)
	}
	cfg.Seed++
	c, err := runSim(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Digest == a.Digest {
		t.Fatal("different seeds, same run")
	}
}

// BenchmarkSimTreeSync reports the simulation's accuracy for the README:
// worst error after settling, convergence time, and the same network
// without the clock filter (FilterSize 1: every sample used at face value)
// as the baseline, with the ratio.
func BenchmarkSimTreeSync(b *testing.B) {
	cfg := defaultSim(1)
	base := cfg
	base.Clock.FilterSize, base.Clock.MinSamples = 1, 1
	var res, bres simResult
	var err error
	for b.Loop() {
		if res, err = runSim(cfg); err != nil {
			b.Fatal(err)
		}
		if bres, err = runSim(base); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(res.WorstAfterSettle)/1e6, "worst_ms")
	b.ReportMetric(res.ConvergedAt.Seconds(), "converge_s")
	b.ReportMetric(float64(res.WorstAroundKill)/1e6, "worst_after_root_death_ms")
	b.ReportMetric(float64(res.MeanAtEnd)/1e6, "mean_ms")
	b.ReportMetric(float64(bres.WorstAfterSettle)/1e6, "nofilter_worst_ms")
	b.ReportMetric(float64(bres.WorstAfterSettle)/float64(res.WorstAfterSettle), "nofilter/filter")
	b.ReportMetric(float64(res.Nodes), "nodes")
	b.ReportMetric(float64(res.Polls)/cfg.Duration.Minutes()/float64(res.Nodes-1), "polls/node/min")
}

// BenchmarkSimVariants runs the tree simulation under harsher or different
// conditions than the test asserts, to show where the accuracy goes.
func BenchmarkSimVariants(b *testing.B) {
	variants := []struct {
		name string
		mod  func(*simConfig)
	}{
		{"default", func(*simConfig) {}},
		{"fanout10_3hops_1111nodes", func(c *simConfig) { c.Fanout, c.Depth = 10, 3 }},
		{"fanout2_7hops", func(c *simConfig) { c.Fanout, c.Depth = 2, 7 }},
		{"jitter2ms_asym1ms", func(c *simConfig) { c.Jitter, c.Asym = 2*time.Millisecond, time.Millisecond }},
		{"spikes5pct_loss5pct", func(c *simConfig) { c.Spike, c.Loss = 0.05, 0.05 }},
		{"delay50to200ms", func(c *simConfig) { c.MinDelay, c.MaxDelay = 50*time.Millisecond, 200*time.Millisecond }},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			cfg := defaultSim(1)
			v.mod(&cfg)
			var res simResult
			var err error
			for b.Loop() {
				if res, err = runSim(cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(res.WorstAfterSettle)/1e6, "worst_ms")
			b.ReportMetric(res.ConvergedAt.Seconds(), "converge_s")
			b.ReportMetric(float64(res.WorstAroundKill)/1e6, "worst_after_root_death_ms")
			b.ReportMetric(float64(res.MaxHops), "hops")
		})
	}
}
