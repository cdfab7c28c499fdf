//go:build !race

package mail

import "time"

const (
	testFileBytes = 4 << 20
	testHeartbeat = 100 * time.Millisecond
	testInterval  = 500 * time.Millisecond
	testTTL       = 4 * time.Second
	testScrub     = time.Second
	testSync      = 500 * time.Millisecond
)
const testDifficulty = 8
