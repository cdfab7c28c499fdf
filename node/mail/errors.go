package mail

import (
	"errors"

	"github.com/borgios/borgios/node/cell"
)

// Sentinel errors; callers tell them apart with errors.Is.
var (
	// ErrMalformed: bytes that do not decode as a record, message or request.
	ErrMalformed = errors.New("mail: malformed")
	// ErrBadSignature: a key record or tombstone whose signature does not verify.
	ErrBadSignature = errors.New("mail: bad signature")
	// ErrNotForMe: a sealed message addressed to another account.
	ErrNotForMe = errors.New("mail: message addressed to another account")
	// ErrCannotOpen: the message does not decrypt with any key of ours
	// (tampered, or sealed to a prekey that is no longer derived).
	ErrCannotOpen = errors.New("mail: cannot open message")
	// ErrBadStamp: the proof-of-work stamp does not meet the difficulty.
	ErrBadStamp = errors.New("mail: insufficient proof-of-work stamp")
	// ErrNoKey: the recipient has published no key record.
	ErrNoKey = errors.New("mail: recipient has no key record")
	// ErrNotFound: no such message in the mailbox.
	ErrNotFound = errors.New("mail: no such message")
	// ErrVaultConflict: another device rewrote the prekey vault at the
	// same time, again and again; publish again later.
	ErrVaultConflict = errors.New("mail: prekey vault changed concurrently")
	// ErrUnavailable: no mailbox holder could be reached.
	ErrUnavailable = errors.New("mail: mailbox holders unreachable")
)

// Receptor error codes of the mail cell.
const (
	// CodeBadStamp: the deliver request's stamp is too weak.
	CodeBadStamp cell.Code = "bad-stamp"
	// CodeForged: a key record or tombstone not signed by its account.
	CodeForged cell.Code = "forged"
	// CodeStale: a key record or vault older than the one kept (a replay,
	// or a lagging holder's copy).
	CodeStale cell.Code = "stale"
	// CodeMailboxFull: the mailbox holds MaxMessages already.
	CodeMailboxFull cell.Code = "mailbox-full"
)
