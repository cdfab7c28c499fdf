package netclock_test

import (
	"testing"
	"time"

	"github.com/borgios/borgios/node/netclock"
)

// BenchmarkNow is the cost of network time, which every envelope sealed or
// verified pays, against the OS clock it replaces (time.Now().UnixMilli())
// measured in the same run; parallel, since all cells call it at once.
func BenchmarkNow(b *testing.B) {
	s, err := netclock.New(netclock.Config{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	var base, ours float64
	b.Run("os", func(b *testing.B) {
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = time.Now().UnixMilli()
			}
		})
		base = float64(time.Since(start).Nanoseconds()) / float64(b.N)
	})
	b.Run("network", func(b *testing.B) {
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = s.Now()
			}
		})
		ours = float64(time.Since(start).Nanoseconds()) / float64(b.N)
		if base > 0 {
			b.ReportMetric(ours/base, "x_os_clock")
		}
	})
}
