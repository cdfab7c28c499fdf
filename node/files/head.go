package files

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

// HeadVersion is the head record format SignHead writes. Version 1 heads
// (one Prev hash instead of a parent list) still verify, so trees written
// before version 2 stay readable.
const HeadVersion = 2

// Head limits, checked on every decode.
const (
	// MaxHeadSize bounds a signed head record; its largest part is the
	// sealed manifest of the root directory (about 50 bytes per 256 KiB
	// chunk of the directory blob, so a few KiB in practice).
	MaxHeadSize = 256 << 10
	// MaxParents bounds the heads one head extends: a merge head names
	// every tip it merged, and holders keep at most MaxTips.
	MaxParents = MaxTips
	// MaxDeviceLen bounds the device label of a head.
	MaxDeviceLen = 64
)

const headSigDomain = "borgios/files/head-sig/v1\x00"

// HeadHash is the SHA-256 of a signed head's exact bytes: what a later
// head names as its parent.
type HeadHash [32]byte

func (h HeadHash) String() string { return fmt.Sprintf("%x", h[:6]) }

// Head is one version of a person's file tree.
type Head struct {
	Version int `cbor:"1,keyasint"`
	// Account is the owner's account key; it signs the head.
	Account []byte `cbor:"2,keyasint"`
	// Seq is the head's height: 1 for a head without parents, otherwise
	// one more than its highest parent. Ancestry walks use it to stop
	// early: a head is never the ancestor of one with a lower or equal seq.
	Seq uint64 `cbor:"3,keyasint"`
	// Root is the sealed shard manifest of the encrypted root directory.
	Root []byte `cbor:"4,keyasint"`
	// Prev is version 1's single parent (zero for Seq 1); unused in
	// version 2.
	Prev []byte `cbor:"5,keyasint,omitempty"`
	// Time is the owner's network time (Unix ms) at signing.
	Time int64 `cbor:"6,keyasint"`
	// Parents are the hashes of the heads this one extends, sorted and
	// unique: none for the first head, one for an ordinary update, every
	// merged tip for a merge head (version 2).
	Parents [][]byte `cbor:"7,keyasint,omitempty"`
	// Device names the conduit that wrote the head, for conflict names a
	// person can read ("report (conflict 2025-03-01 from laptop).txt").
	Device string `cbor:"8,keyasint,omitempty"`
}

type signedHead struct {
	Body []byte `cbor:"1,keyasint"`
	Sig  []byte `cbor:"2,keyasint"`
}

// SignedHead is a verified head with the exact bytes it came in.
type SignedHead struct {
	Head
	raw     []byte
	hash    HeadHash
	parents []HeadHash
}

// Raw is the signed bytes, as stored and sent.
func (h *SignedHead) Raw() []byte { return h.raw }

// Hash is the hash of Raw.
func (h *SignedHead) Hash() HeadHash { return h.hash }

// ParentHashes are the heads this one extends (version 1's Prev
// included), sorted.
func (h *SignedHead) ParentHashes() []HeadHash { return h.parents }

// HasParent reports whether p is one of h's parents.
func (h *SignedHead) HasParent(p HeadHash) bool {
	_, ok := slices.BinarySearchFunc(h.parents, p, func(a, b HeadHash) int { return bytes.Compare(a[:], b[:]) })
	return ok
}

// SignHead signs a version 2 head with the account key; Account and
// Version are set from it and Parents are sorted. Prev must be empty.
func SignHead(account ed25519.PrivateKey, h Head) (*SignedHead, error) {
	if len(account) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("files: sign head: account key of %d bytes", len(account))
	}
	h.Version = HeadVersion
	h.Account = account.Public().(ed25519.PublicKey)
	h.Parents = slices.Clone(h.Parents)
	slices.SortFunc(h.Parents, bytes.Compare)
	if _, err := h.check(); err != nil {
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

// check validates the structure and returns the parent hashes.
func (h *Head) check() ([]HeadHash, error) {
	if len(h.Account) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: head account field", ErrMalformed)
	}
	if h.Seq == 0 {
		return nil, fmt.Errorf("%w: head seq 0", ErrMalformed)
	}
	var parents []HeadHash
	switch h.Version {
	case 1:
		if len(h.Prev) != sha256.Size || len(h.Parents) != 0 || h.Device != "" {
			return nil, fmt.Errorf("%w: version 1 head fields", ErrMalformed)
		}
		zero := bytes.Equal(h.Prev, make([]byte, sha256.Size))
		if zero != (h.Seq == 1) {
			return nil, fmt.Errorf("%w: version 1 head seq %d and predecessor disagree", ErrMalformed, h.Seq)
		}
		if !zero {
			parents = []HeadHash{HeadHash(h.Prev)}
		}
	case HeadVersion:
		if len(h.Prev) != 0 {
			return nil, fmt.Errorf("%w: version 2 head with a version 1 predecessor", ErrMalformed)
		}
		if len(h.Parents) > MaxParents {
			return nil, fmt.Errorf("%w: head with %d parents, limit %d", ErrMalformed, len(h.Parents), MaxParents)
		}
		if (len(h.Parents) == 0) != (h.Seq == 1) {
			return nil, fmt.Errorf("%w: head seq %d with %d parents", ErrMalformed, h.Seq, len(h.Parents))
		}
		for i, p := range h.Parents {
			if len(p) != sha256.Size {
				return nil, fmt.Errorf("%w: parent hash of %d bytes", ErrMalformed, len(p))
			}
			if i > 0 && bytes.Compare(h.Parents[i-1], p) >= 0 {
				return nil, fmt.Errorf("%w: parents not sorted and unique", ErrMalformed)
			}
			parents = append(parents, HeadHash(p))
		}
		if len(h.Device) > MaxDeviceLen || !utf8.ValidString(h.Device) {
			return nil, fmt.Errorf("%w: device label", ErrMalformed)
		}
	default:
		return nil, fmt.Errorf("%w: head version %d", ErrMalformed, h.Version)
	}
	owner, err := shard.VerifyManifest(h.Root)
	if err != nil {
		return nil, fmt.Errorf("%w: head root: %v", ErrMalformed, err)
	}
	if !owner.Equal(ed25519.PublicKey(h.Account)) {
		return nil, fmt.Errorf("%w: head root signed by another account", ErrMalformed)
	}
	return parents, nil
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
	parents, err := h.check()
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(h.Account, append([]byte(headSigDomain), s.Body...), s.Sig) {
		return nil, ErrBadSignature
	}
	return &SignedHead{Head: h, raw: bytes.Clone(raw), hash: sha256.Sum256(raw), parents: parents}, nil
}

const headIDDomain = "borgios/files/head-id/v1\x00"

// HeadID is where an account's head lives: its holders are the top k
// nodes for this ID by rendezvous hashing over the files cell's members.
func HeadID(account ed25519.PublicKey) shard.ID {
	return shard.ID(sha256.Sum256(append([]byte(headIDDomain), account...)))
}

func hashLess(a, b HeadHash) int { return bytes.Compare(a[:], b[:]) }
