//go:build race

package mail

import "time"

// The race detector slows everything ~10x: fewer bytes, slower trees.
const (
	testFileBytes = 1 << 20
	testHeartbeat = 300 * time.Millisecond
	testInterval  = time.Second
	testTTL       = 8 * time.Second
	testScrub     = 2 * time.Second
	testSync      = time.Second
)
const testDifficulty = 8
