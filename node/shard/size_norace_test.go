//go:build !race

package shard

import "time"

// networkTestBytes is the mixed upload of the network test: 16 MB (the
// throughput figures come from the benchmarks, not from this test).
const networkTestBytes = 16 << 20

// Tree and registry timing of test nodes: a killed node leaves every view
// within testTTL.
const (
	testHeartbeat = 100 * time.Millisecond
	testInterval  = 200 * time.Millisecond
	testTTL       = 2 * time.Second
)

// testCallTimeout bounds one shard call in tests: generous, because a loaded CI machine
// can take seconds to sign, fsync and verify a 256 KiB shard; a timeout here
// would fail the test for load, not for a bug.
const testCallTimeout = 30 * time.Second
