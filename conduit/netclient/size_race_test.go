//go:build race

package netclient

import "time"

// The race detector slows everything ~10x: smaller files and slower trees
// keep the package well under a minute.
const (
	testBytes     = 3 << 20
	testHeartbeat = 300 * time.Millisecond
)
