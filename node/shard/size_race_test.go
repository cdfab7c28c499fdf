//go:build race

package shard

// Under the race detector everything runs ~10x slower: smaller uploads keep
// the package well under a minute while exercising the same paths.
const networkTestBytes = 6 << 20
