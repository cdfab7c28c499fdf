//go:build !race

package shard

// networkTestBytes is the mixed upload of the network test: 50 MB.
const networkTestBytes = 50 << 20
