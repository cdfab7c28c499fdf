package netclient

import (
	"context"
	"errors"

	"github.com/borgios/borgios/node/cell"
)

// Errors callers tell apart.
var (
	// ErrNoEndpoints: the pool knows no endpoint for the cell type (none
	// listed by the registry, or all of them excluded).
	ErrNoEndpoints = errors.New("netclient: no endpoint for the cell")
	// ErrAllFailed: every endpoint tried failed; the error also wraps each
	// endpoint's failure.
	ErrAllFailed = errors.New("netclient: every endpoint failed")
	// ErrClosed: the pool was closed.
	ErrClosed = errors.New("netclient: pool closed")
	// ErrUnreachable: no bootstrap contact answered and no data directory
	// was given for an embedded node.
	ErrUnreachable = errors.New("netclient: no node reachable and no embedded node configured")
)

// Retryable reports whether err means "this endpoint failed, another may
// not": unreachable, a slow answer cut off by the score deadline, an
// answer that did not verify, or a node that is overloaded, broken or out
// of clock with us. Refusals of the request itself (bad request, not
// found, unauthorized) would be the same anywhere and are not retried.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ce *cell.Error
	if errors.As(err, &ce) {
		switch ce.Code {
		case cell.CodeUnavailable, cell.CodeBadAnswer, cell.CodeInternal, cell.CodeRateLimited,
			cell.CodeStale, cell.CodeFuture, cell.CodeReplay:
			return true
		}
		return false
	}
	// Anything else (a transport or decoding error outside a cell error)
	// is the endpoint's fault as far as we can tell.
	return !errors.Is(err, context.Canceled)
}
