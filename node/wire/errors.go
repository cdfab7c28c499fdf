package wire

import "errors"

// Sentinel errors. Every error returned by this package wraps exactly one of
// them (plus detail), so callers branch with errors.Is and log the rest.
// They are distinct because the right reaction differs: a malformed or
// forged message may justify penalising the peer that sent it, a message
// that is merely too old or a replay usually does not, and a full replay
// cache is our own overload, not the peer's fault.
var (
	// ErrMalformed: the bytes are not a structurally valid envelope
	// (truncated, bad magic, bad field lengths or characters, trailing
	// bytes) or not valid payload CBOR.
	ErrMalformed = errors.New("wire: malformed")

	// ErrOversize: the input is larger than the configured limit. Checked
	// before any parsing or hashing so that large junk costs nothing.
	ErrOversize = errors.New("wire: oversize")

	// ErrUnknownVersion: the magic is ours but the layout version is not one
	// this build understands.
	ErrUnknownVersion = errors.New("wire: unknown envelope version")

	// ErrWrongNetwork: the envelope belongs to another network ID.
	ErrWrongNetwork = errors.New("wire: wrong network")

	// ErrTooOld: the envelope's time lies more than the window before now.
	ErrTooOld = errors.New("wire: envelope too old")

	// ErrFromFuture: the envelope's time lies more than the window after now.
	ErrFromFuture = errors.New("wire: envelope from the future")

	// ErrBadSignature: the signature does not verify for the header bytes
	// and sender key. A forged signature, a tampered header and a sender key
	// swapped for another are cryptographically indistinguishable, so they
	// share this one error.
	ErrBadSignature = errors.New("wire: bad signature")

	// ErrPayloadTampered: the header is authentic but the payload does not
	// match the SHA-256 digest the sender signed.
	ErrPayloadTampered = errors.New("wire: payload does not match signed digest")

	// ErrReplay: an envelope with the same (sender, nonce) was already
	// accepted within the time window. A broadcast reaching a node by
	// several paths produces this normally; it is not misbehaviour.
	ErrReplay = errors.New("wire: replayed envelope")

	// ErrReplayCacheFull: the replay cache holds ReplayCapacity live nonces.
	// Forgetting one would let its envelope be replayed, so the verifier
	// refuses new envelopes instead until old ones expire (fail closed).
	ErrReplayCacheFull = errors.New("wire: replay cache full")

	// ErrNotAnswer: an envelope claimed as the answer to a request is not
	// bound to it (its Ref is another request's ID, or network or cell
	// differ).
	ErrNotAnswer = errors.New("wire: not an answer to this request")

	// ErrInvalidHeader: Seal was given a header it cannot encode (field too
	// long, empty or with characters outside printable ASCII, payload larger
	// than the length field).
	ErrInvalidHeader = errors.New("wire: invalid header")

	// ErrInvalidKey: Seal was given a private key of the wrong length.
	ErrInvalidKey = errors.New("wire: invalid private key")
)
