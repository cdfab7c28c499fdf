//go:build unix

package ledger

import (
	"syscall"
	"time"
)

// processCPU is the user+system CPU time this process has used: a cost
// measure that other load on a shared machine does not inflate.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
