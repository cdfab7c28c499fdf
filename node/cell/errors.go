package cell

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

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

// ClockError is a node's signed refusal of our request's time: the request
// lay outside the node's freshness window (Code is CodeStale or
// CodeFuture), and the answer saying so verified in every way but one: its
// own time lies outside our window too, because it is the node's time and
// ours is off. It carries the node's signed time next to ours, which is
// how a client with a wrong clock learns network time at all. It unwraps
// to the *Error the node sent, so HasCode and errors.As see that code.
//
// One ClockError proves only what one node claims; the owner of the clock
// must not move it on a single node's word (see conduit/netclient).
type ClockError struct {
	Code    Code
	Message string
	// Node is the pinned key that signed the refusal.
	Node ed25519.PublicKey
	TimeSample
}

func (e *ClockError) Error() string {
	return fmt.Sprintf("%s: node %x refused our time: its clock reads %+d ms from ours (round trip %v): %s",
		e.Code, e.Node[:min(len(e.Node), 6)], e.OffsetMs(), e.RTT.Round(time.Millisecond), e.Message)
}

// Unwrap returns the node's error as it sent it.
func (e *ClockError) Unwrap() error { return &Error{Code: e.Code, Message: e.Message} }
