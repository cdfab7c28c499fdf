package shard

import (
	"errors"

	"github.com/borgios/borgios/node/cell"
)

// Sentinel errors of the pure layer; callers tell them apart with errors.Is.
var (
	// ErrMalformed: bytes that do not decode as the expected structure.
	ErrMalformed = errors.New("shard: malformed")
	// ErrBadSignature: a grant, delete or manifest whose signature does not
	// verify under the key it names.
	ErrBadSignature = errors.New("shard: bad signature")
	// ErrWrongNetwork: a grant or delete signed for another network.
	ErrWrongNetwork = errors.New("shard: signed for another network")
	// ErrDecrypt: a chunk or manifest that does not authenticate under the
	// key, file and position it is opened with (wrong key, tampered bytes,
	// or a chunk moved to another position).
	ErrDecrypt = errors.New("shard: decryption failed")
	// ErrHashMismatch: bytes whose SHA-256 is not the shard ID they claim,
	// or a file whose plaintext hash differs from the manifest's.
	ErrHashMismatch = errors.New("shard: hash mismatch")
	// ErrNotOwner: a manifest opened for an owner other than its signer.
	ErrNotOwner = errors.New("shard: manifest of another owner")
	// ErrUnavailable: no holder (and no member at all, in the fallback)
	// returned a good copy of a shard.
	ErrUnavailable = errors.New("shard: no good copy reachable")
	// ErrNoMembers: the membership view lists no node serving the cell.
	ErrNoMembers = errors.New("shard: no storage nodes known")
)

// Receptor error codes of the shard cell, beyond the runtime's own. Each
// refusal a client must react to differently has its own code.
const (
	// CodeForgedGrant: the store grant's signature does not verify.
	CodeForgedGrant cell.Code = "forged-grant"
	// CodeForgedDelete: the delete's signature does not verify.
	CodeForgedDelete cell.Code = "forged-delete"
	// CodeReplayedDelete: this delete nonce was used before for the shard.
	CodeReplayedDelete cell.Code = "replayed-delete"
	// CodeStaleDelete: the delete is outside the allowed time window.
	CodeStaleDelete cell.Code = "stale-delete"
	// CodeHashMismatch: the data does not hash to the shard ID (or its size
	// differs from the grant).
	CodeHashMismatch cell.Code = "hash-mismatch"
	// CodeQuota: the owner's quota on this node would be exceeded.
	CodeQuota cell.Code = "quota-exceeded"
	// CodeRevoked: the grant predates the owner's delete of this shard.
	CodeRevoked cell.Code = "grant-revoked"
	// CodeCorrupt: the holder's copy failed its hash check; it was dropped
	// and will be repaired. Ask another holder.
	CodeCorrupt cell.Code = "corrupt"
	// CodeFull: the node's disk budget is exhausted.
	CodeFull cell.Code = "node-full"
	// CodeBusy: the holder is at its concurrent-read limit; ask another
	// holder (bulk readers get one named in the answer).
	CodeBusy cell.Code = "busy"
)
