//go:build !race

package shard

import "time"

// networkTestBytes is the mixed upload of the network test: 50 MB.
const networkTestBytes = 50 << 20

// Tree and registry timing of test nodes: a killed node leaves every view
// within testTTL.
const (
	testHeartbeat = 100 * time.Millisecond
	testInterval  = 200 * time.Millisecond
	testTTL       = 2 * time.Second
)
