package stream

import (
	"errors"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/shard"
)

// Sentinel errors; callers tell them apart with errors.Is.
var (
	// ErrUnavailable: a piece could not be read from any of its holders
	// after every retry round.
	ErrUnavailable = errors.New("stream: piece unavailable")
	// ErrFileHash: every piece authenticated but the assembled plaintext's
	// SHA-256 differs from the manifest's (the output was altered under
	// the transfer, or a resumed piece was lost before it reached the disk).
	// The progress file is reset, so the next attempt fetches everything.
	ErrFileHash = errors.New("stream: whole-file hash mismatch")
	// ErrBadPiece: a holder answered with bytes that do not match the
	// shard ID and size in the manifest, or that do not decrypt.
	ErrBadPiece = errors.New("stream: bad piece")
	// ErrMalformed: a holder's answer that does not decode.
	ErrMalformed = errors.New("stream: malformed answer")
	// ErrClosed: the RangeReader was closed.
	ErrClosed = errors.New("stream: reader closed")
)

// CodeBusy is the receptor code a holder at capacity answers a read with
// (shard.CodeBusy): the reader moves on to the next holder at once,
// without counting a failure against the busy one.
const CodeBusy = shard.CodeBusy

// busy reports whether err is a holder telling us to go elsewhere.
func busy(err error) bool {
	var be *busyError
	return errors.As(err, &be) || cell.HasCode(err, CodeBusy) || cell.HasCode(err, cell.CodeRateLimited)
}
