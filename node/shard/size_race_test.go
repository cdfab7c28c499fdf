//go:build race

package shard

import "time"

// Under the race detector everything runs ~10x slower: smaller uploads keep
// the package well under a minute while exercising the same paths.
const networkTestBytes = 6 << 20

// Tree and registry timing of test nodes: the race detector slows the tree
// loops enough that 100 ms heartbeats churn.
const (
	testHeartbeat = 300 * time.Millisecond
	testInterval  = time.Second
	testTTL       = 10 * time.Second
)

// testCallTimeout bounds one shard call in tests: generous, because the race detector on a loaded 2-core machine
// can take seconds to sign, fsync and verify a 256 KiB shard; a timeout here
// would fail the test for load, not for a bug.
const testCallTimeout = 30 * time.Second
