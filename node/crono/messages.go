package crono

import (
	"errors"
	"fmt"
)

// Errors callers may need to tell apart. OnResponse wraps them with detail.
var (
	// ErrConfig: a Config field is out of range.
	ErrConfig = errors.New("crono: invalid config")
	// ErrIsRoot: the root has no parent to sync to.
	ErrIsRoot = errors.New("crono: node is root")
	// ErrNoParent: no parent is set (SetParent was never called or the node
	// was reset).
	ErrNoParent = errors.New("crono: no parent")
	// ErrUnexpectedResponse: the response answers no outstanding request
	// (duplicate, stale after a parent change, or superseded by a newer poll).
	ErrUnexpectedResponse = errors.New("crono: response to no outstanding request")
	// ErrInvalidResponse: the response's fields are inconsistent or out of
	// range; the parent is broken or hostile.
	ErrInvalidResponse = errors.New("crono: invalid response")
	// ErrParentNotSynced: the parent has no network time to give yet.
	ErrParentNotSynced = errors.New("crono: parent not synced")
	// ErrTooLate: the round trip took longer than Config.MaxRTT.
	ErrTooLate = errors.New("crono: response too late")
)

// Request is a child's time query: t1 of the four NTP timestamps.
// The parent echoes it in its Response.
type Request struct {
	// Seq identifies the request; only the latest one is answered.
	Seq uint64 `cbor:"1,keyasint"`
	// T1 is the child's local clock (ns, monotonic, arbitrary origin) when
	// it sent the request. Only the child interprets it.
	T1 int64 `cbor:"2,keyasint"`
}

// Response is a parent's answer: t2 and t3 are stamped with the parent's
// NETWORK time, so every child follows the root through its parent.
type Response struct {
	Seq uint64 `cbor:"1,keyasint"` // echoed from the Request
	T1  int64  `cbor:"2,keyasint"` // echoed from the Request
	// T2 and T3 are the parent's network time (Unix ns) when it received the
	// request and when it sent this response.
	T2 int64 `cbor:"3,keyasint"`
	T3 int64 `cbor:"4,keyasint"`
	// Synced is false while the parent has no network time of its own.
	Synced bool `cbor:"5,keyasint"`
	// Stratum is the parent's hop count from the root (root = 0).
	Stratum uint8 `cbor:"6,keyasint"`
	// Error is the parent's estimated error against the root, ns.
	Error int64 `cbor:"7,keyasint"`
	// Steps counts the parent's discontinuities (first sync, forward jumps).
	// A child that sees it change drops the samples taken before, because
	// they describe a clock that no longer exists.
	Steps uint32 `cbor:"8,keyasint"`
	// Wander is how much the parent's rate has recently been changing: the
	// RMS change of its frequency over wanderUnit (16 s), in parts per
	// billion. While a parent is still learning its rate (start-up, new
	// parent) it is large, and the child widens its model of the parent
	// instead of locking onto a rate that is about to change; once the tree
	// has settled it is small, and children average more.
	Wander uint32 `cbor:"9,keyasint"`
}

// Validate checks a response received from the network for internal
// consistency. It cannot check T1 or Seq; OnResponse matches those against
// its outstanding request.
func (r Response) Validate() error {
	switch {
	case r.T2 < 0 || r.T2 >= maxNetTime:
		return fmt.Errorf("%w: t2 %d out of range", ErrInvalidResponse, r.T2)
	case r.T3 < r.T2 || r.T3 >= maxNetTime:
		return fmt.Errorf("%w: t3 %d before t2 %d or out of range", ErrInvalidResponse, r.T3, r.T2)
	case r.Stratum >= MaxStratum:
		return fmt.Errorf("%w: stratum %d >= %d", ErrInvalidResponse, r.Stratum, MaxStratum)
	case r.Wander > maxWanderPPB:
		return fmt.Errorf("%w: wander %d ppb > %d", ErrInvalidResponse, r.Wander, maxWanderPPB)
	case r.Error < 0 || r.Error >= maxNetTime:
		return fmt.Errorf("%w: error estimate %d out of range", ErrInvalidResponse, r.Error)
	}
	return nil
}
