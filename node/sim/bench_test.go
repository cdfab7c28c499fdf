//go:build !race

package sim

import (
	"fmt"
	"testing"
)

// BenchmarkJoin1M grows a 1,000,000-node tree in storms of 100,000, then
// measures single joins and one broadcast. Run with -benchtime=1x.
func BenchmarkJoin1M(b *testing.B) { benchJoin(b, 1_000_000, 100_000) }

// BenchmarkJoin100k is the same at 100,000 nodes (storms of 10,000).
func BenchmarkJoin100k(b *testing.B) { benchJoin(b, 100_000, 10_000) }

func benchJoin(b *testing.B, n, storm int) {
	for b.Loop() {
		res := runScale(b, n, storm)
		b.ReportMetric(float64(res.hops), "hops")
		b.ReportMetric(float64(maxHopsFor(res.n)), "hop-bound")
		b.ReportMetric(res.msgsPerNode, "msgs/node/bcast")
		b.ReportMetric(res.stormPerJoin, "msgs/join-storm")
		b.ReportMetric(res.singlePerJoin, "msgs/join-single")
		b.ReportMetric(res.heapPerNode, "heapB/node")
		b.ReportMetric(res.stormSettle.Seconds(), "storm-settle-s")
		b.ReportMetric(res.wall.Seconds(), "wall-s")
		if res.dups != 0 {
			b.Fatal(fmt.Sprintf("%d duplicate deliveries", res.dups))
		}
	}
}
