package files

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

// HeadVersion is the current head record format.
const HeadVersion = 1

// MaxHeadSize bounds a signed head record; its largest part is the sealed
// manifest of the root directory, a handful of shards in practice.
const MaxHeadSize = 1 << 20

const headSigDomain = "borgios/files/head-sig/v1\x00"

// HeadHash is the SHA-256 of a signed head's exact bytes: what the next
// head names as its predecessor.
type HeadHash [32]byte

// Head is one version of a person's file tree.
type Head struct {
	Version int `cbor:"1,keyasint"`
	// Account is the owner's account key; it signs the head.
	Account []byte `cbor:"2,keyasint"`
	// Seq is 1 for the first head and grows by one with every update.
	Seq uint64 `cbor:"3,keyasint"`
	// Root is the sealed shard manifest of the encrypted root directory.
	Root []byte `cbor:"4,keyasint"`
	// Prev is the hash of the head this one replaces (zero for Seq 1).
	Prev []byte `cbor:"5,keyasint"`
	// Time is the owner's network time (Unix ms) at signing.
	Time int64 `cbor:"6,keyasint"`
}

type signedHead struct {
	Body []byte `cbor:"1,keyasint"`
	Sig  []byte `cbor:"2,keyasint"`
}

// SignedHead is a verified head with the exact bytes it came in.
type SignedHead struct {
	Head
	raw  []byte
	hash HeadHash
}

// Raw is the signed bytes, as stored and sent.
func (h *SignedHead) Raw() []byte { return h.raw }

// Hash is the hash of Raw.
func (h *SignedHead) Hash() HeadHash { return h.hash }

// SignHead signs a head with the account key; Account and Version are set
// from it.
func SignHead(account ed25519.PrivateKey, h Head) (*SignedHead, error) {
	if len(account) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("files: sign head: account key of %d bytes", len(account))
	}
	h.Version = HeadVersion
	h.Account = account.Public().(ed25519.PublicKey)
	if h.Prev == nil {
		h.Prev = make([]byte, sha256.Size)
	}
	if err := h.check(); err != nil {
		return nil, fmt.Errorf("files: sign head: %w", err)
	}
	body, err := wire.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("files: sign head: %w", err)
	}
	raw, err := wire.Marshal(signedHead{Body: body, Sig: ed25519.Sign(account, append([]byte(headSigDomain), body...))})
	if err != nil {
		return nil, fmt.Errorf("files: sign head: %w", err)
	}
	return VerifyHead(raw)
}

func (h *Head) check() error {
	if h.Version != HeadVersion {
		return fmt.Errorf("%w: head version %d", ErrMalformed, h.Version)
	}
	if len(h.Account) != ed25519.PublicKeySize || len(h.Prev) != sha256.Size {
		return fmt.Errorf("%w: head account or prev field", ErrMalformed)
	}
	if h.Seq == 0 {
		return fmt.Errorf("%w: head seq 0", ErrMalformed)
	}
	if h.Seq == 1 && !bytes.Equal(h.Prev, make([]byte, sha256.Size)) {
		return fmt.Errorf("%w: first head names a predecessor", ErrMalformed)
	}
	owner, err := shard.VerifyManifest(h.Root)
	if err != nil {
		return fmt.Errorf("%w: head root: %v", ErrMalformed, err)
	}
	if !owner.Equal(ed25519.PublicKey(h.Account)) {
		return fmt.Errorf("%w: head root signed by another account", ErrMalformed)
	}
	return nil
}

// VerifyHead decodes a signed head and checks its structure, its
// signature by the account it names and that its root manifest is signed
// by the same account. Anyone can run it; only the owner can read the
// tree.
func VerifyHead(raw []byte) (*SignedHead, error) {
	if len(raw) > MaxHeadSize {
		return nil, fmt.Errorf("%w: head of %d bytes", ErrMalformed, len(raw))
	}
	var s signedHead
	if err := wire.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: head: %v", ErrMalformed, err)
	}
	var h Head
	if err := wire.Unmarshal(s.Body, &h); err != nil {
		return nil, fmt.Errorf("%w: head body: %v", ErrMalformed, err)
	}
	if len(s.Sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: head signature of %d bytes", ErrMalformed, len(s.Sig))
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	if !ed25519.Verify(h.Account, append([]byte(headSigDomain), s.Body...), s.Sig) {
		return nil, ErrBadSignature
	}
	return &SignedHead{Head: h, raw: bytes.Clone(raw), hash: sha256.Sum256(raw)}, nil
}

// Successor reports whether next may replace cur under compare and swap:
// same account, seq one more, prev naming cur. cur nil means no head yet.
func Successor(cur, next *SignedHead) bool {
	if cur == nil {
		return next.Seq == 1
	}
	return bytes.Equal(cur.Account, next.Account) && next.Seq == cur.Seq+1 && bytes.Equal(next.Prev, cur.hash[:])
}

const headIDDomain = "borgios/files/head-id/v1\x00"

// HeadID is where an account's head lives: its holders are the top k
// nodes for this ID by rendezvous hashing over the files cell's members.
func HeadID(account ed25519.PublicKey) shard.ID {
	return shard.ID(sha256.Sum256(append([]byte(headIDDomain), account...)))
}
