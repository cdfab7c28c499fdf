package cell

import (
	"errors"
	"fmt"

	"github.com/borgios/borgios/node/wire"
)

// Code is a receptor error code: stable strings clients can switch on.
type Code string

// Receptor error codes. Each rejection of a request has its own code so a
// client (and a test) can tell a tampered request from a replayed one.
const (
	CodeMalformed    Code = "malformed"     // not an envelope, truncated, garbage
	CodeTooLarge     Code = "too-large"     // request exceeds the receptor's limit
	CodeBadSignature Code = "bad-signature" // unsigned, forged, or header altered
	CodeTampered     Code = "tampered"      // payload altered after signing
	CodeReplay       Code = "replay"        // the same request was seen before
	CodeStale        Code = "stale"         // request time too old
	CodeFuture       Code = "future"        // request time too far ahead
	CodeWrongNetwork Code = "wrong-network" // envelope for another network
	CodeWrongCell    Code = "wrong-cell"    // envelope for another cell
	CodeUnknownKind  Code = "unknown-kind"  // the cell has no such request
	CodeBadRequest   Code = "bad-request"   // payload does not decode or is invalid
	CodeUnauthorized Code = "unauthorized"  // signer may not do this
	CodeNotFound     Code = "not-found"     // nothing under that name
	CodeRateLimited  Code = "rate-limited"  // slow down
	CodeInternal     Code = "internal"      // our fault; retry elsewhere
	CodeBadAnswer    Code = "bad-answer"    // client side: the answer failed verification
	CodeUnavailable  Code = "unavailable"   // client side: could not reach the node
)

// Error is a receptor error as both sides see it.
type Error struct {
	Code    Code   `cbor:"1,keyasint"`
	Message string `cbor:"2,keyasint"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Is makes errors.Is(err, &Error{Code: c}) match on the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Errorf builds a receptor error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// HasCode reports whether err is a receptor error with code c.
func HasCode(err error, c Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == c
}

// codeOf maps an envelope verification failure to its receptor code.
func codeOf(err error) Code {
	switch {
	case errors.Is(err, wire.ErrOversize):
		return CodeTooLarge
	case errors.Is(err, wire.ErrBadSignature):
		return CodeBadSignature
	case errors.Is(err, wire.ErrPayloadTampered):
		return CodeTampered
	case errors.Is(err, wire.ErrReplay):
		return CodeReplay
	case errors.Is(err, wire.ErrTooOld):
		return CodeStale
	case errors.Is(err, wire.ErrFromFuture):
		return CodeFuture
	case errors.Is(err, wire.ErrWrongNetwork):
		return CodeWrongNetwork
	case errors.Is(err, wire.ErrReplayCacheFull):
		return CodeRateLimited
	}
	return CodeMalformed
}
