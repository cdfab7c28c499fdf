//go:build race

package mail

import "time"

// The race detector slows everything ~10x: fewer bytes, slower trees.
const (
	testFileBytes = 1 << 20
	testHeartbeat = 300 * time.Millisecond
	testInterval  = time.Second
	// A registry entry lapses when its node cannot refresh it in time; CI
	// machines running many packages under -race starve goroutines for
	// seconds, and a lapsed entry shrinks every view mid-test (with 8 s
	// the views of five nodes flapped for minutes under load 18).
	testTTL   = 20 * time.Second
	testScrub = 2 * time.Second
	testSync  = time.Second
)
const testDifficulty = 8
