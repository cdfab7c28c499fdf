package registry

import "errors"

// Reasons an entry is refused. Callers (and tests) tell them apart with
// errors.Is; the metric label of each is its Reason.
var (
	// ErrMalformed: not an entry envelope, or a payload that does not
	// decode or breaks a field rule.
	ErrMalformed = errors.New("registry: malformed entry")
	// ErrTooLarge: the signed entry exceeds MaxEntrySize, or lists more
	// addresses or cells than allowed.
	ErrTooLarge = errors.New("registry: entry too large")
	// ErrBadSignature: the envelope's signature or payload digest does not
	// verify.
	ErrBadSignature = errors.New("registry: bad entry signature")
	// ErrForged: the envelope is validly signed, but by a key other than the
	// node the entry describes.
	ErrForged = errors.New("registry: entry signed by another key")
	// ErrExpired: the entry's expiry has passed.
	ErrExpired = errors.New("registry: entry expired")
	// ErrFuture: the entry was issued further ahead of our network time
	// than the allowed skew.
	ErrFuture = errors.New("registry: entry from the future")
	// ErrLifetime: the entry asks to live longer than MaxTTL.
	ErrLifetime = errors.New("registry: entry lifetime too long")
	// ErrStale: we hold (or recently dropped) a newer sequence of that node.
	ErrStale = errors.New("registry: older entry sequence")
	// ErrEquivocation: the same node signed two different entries with one
	// sequence number; the first one stays.
	ErrEquivocation = errors.New("registry: two entries with one sequence")
	// ErrTableFull: the table holds MaxEntries nodes already.
	ErrTableFull = errors.New("registry: table full")
	// ErrDuplicate: the exact entry is already held. Not a fault: every
	// entry reaches a node through the broadcast and through catch-up.
	ErrDuplicate = errors.New("registry: entry already held")
)

// Reason names an accept error for metrics and status.
func Reason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{ErrMalformed, "malformed"}, {ErrTooLarge, "too-large"}, {ErrBadSignature, "bad-signature"},
		{ErrForged, "forged"}, {ErrExpired, "expired"}, {ErrFuture, "future"}, {ErrLifetime, "lifetime"},
		{ErrStale, "stale"}, {ErrEquivocation, "equivocation"}, {ErrTableFull, "table-full"},
		{ErrDuplicate, "duplicate"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "other"
}
