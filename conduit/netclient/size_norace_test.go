//go:build !race

package netclient

import "time"

const (
	testBytes     = 24 << 20
	testHeartbeat = 200 * time.Millisecond
)
