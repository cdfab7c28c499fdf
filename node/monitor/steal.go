package monitor

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HostSteal is the CPU time the hypervisor has taken from this virtual
// machine since boot, all CPUs together (the steal column of /proc/stat);
// false where there is no such counter (not Linux, or no permission).
// A node on a shared VPS that runs slow for no reason of its own shows it
// here, and a benchmark reports it beside its figures.
func HostSteal() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 9 || string(f[0]) != "cpu" {
			continue
		}
		ticks, err := strconv.ParseUint(string(f[8]), 10, 64)
		if err != nil {
			return 0, false
		}
		// /proc/stat counts in USER_HZ, which is 100 on every Linux
		// architecture we build for.
		return time.Duration(ticks) * 10 * time.Millisecond, true
	}
	return 0, false
}

func stealCollector() prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "borgios_host_cpu_steal_seconds_total",
		Help: "CPU time the hypervisor took from this machine since boot, all CPUs (0 where unknown).",
	}, func() float64 {
		d, _ := HostSteal()
		return d.Seconds()
	})
}
