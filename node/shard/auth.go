package shard

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"

	"github.com/borgios/borgios/node/wire"
)

// Auth kinds: what an owner's signature permits.
const (
	AuthStore  = 1 // store this shard and charge it to me
	AuthDelete = 2 // drop my claim on this shard
)

// MaxAuthSize bounds a signed grant or delete.
const MaxAuthSize = 512

const authDomain = "borgios/shard/auth/v1\x00"

// Auth is an owner's signed permission about one shard. A store grant
// travels with the shard: the holder keeps its exact bytes, and a node
// repairing the shard presents them to the next holder, so the owner's
// signature (not the repairer's) is what every holder checks. A delete
// carries a fresh nonce and time so each one can be used exactly once.
type Auth struct {
	Kind    uint8             `cbor:"1,keyasint"`
	Network string            `cbor:"2,keyasint"`
	Owner   ed25519.PublicKey `cbor:"3,keyasint"`
	ID      ID                `cbor:"4,keyasint"`
	// Size is the shard's stored size (store grants only).
	Size uint32 `cbor:"5,keyasint"`
	// Time is the owner's network time (Unix ms) at signing. A delete
	// revokes every store grant of the same owner and shard signed before it.
	Time int64 `cbor:"6,keyasint"`
	// Nonce makes every delete unique (zero in store grants).
	Nonce [16]byte `cbor:"7,keyasint"`

	raw []byte
}

// Raw is the exact signed bytes, to forward unchanged.
func (a *Auth) Raw() []byte { return a.raw }

type signedAuth struct {
	Body []byte `cbor:"1,keyasint"`
	Sig  []byte `cbor:"2,keyasint"`
}

// SignStore signs a store grant for a shard of size bytes.
func SignStore(owner ed25519.PrivateKey, network string, id ID, size int, now int64) (*Auth, error) {
	return signAuth(owner, Auth{Kind: AuthStore, Network: network, ID: id, Size: uint32(size), Time: now})
}

// SignDelete signs a one-time delete of the owner's claim on a shard.
func SignDelete(owner ed25519.PrivateKey, network string, id ID, now int64) (*Auth, error) {
	a := Auth{Kind: AuthDelete, Network: network, ID: id, Time: now}
	rand.Read(a.Nonce[:])
	return signAuth(owner, a)
}

func signAuth(owner ed25519.PrivateKey, a Auth) (*Auth, error) {
	if len(owner) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("shard: sign: owner key of %d bytes", len(owner))
	}
	a.Owner = owner.Public().(ed25519.PublicKey)
	body, err := wire.Marshal(&a)
	if err != nil {
		return nil, fmt.Errorf("shard: sign: %w", err)
	}
	raw, err := wire.Marshal(signedAuth{Body: body, Sig: ed25519.Sign(owner, append([]byte(authDomain), body...))})
	if err != nil {
		return nil, fmt.Errorf("shard: sign: %w", err)
	}
	a.raw = raw
	return &a, nil
}

// VerifyAuth decodes signed grant or delete bytes and checks the owner's
// signature and the network. Freshness and use-once are the holder's
// business (they need its state).
func VerifyAuth(raw []byte, network string) (*Auth, error) {
	if len(raw) > MaxAuthSize {
		return nil, fmt.Errorf("%w: auth of %d bytes", ErrMalformed, len(raw))
	}
	var s signedAuth
	if err := wire.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: auth: %v", ErrMalformed, err)
	}
	var a Auth
	if err := wire.Unmarshal(s.Body, &a); err != nil {
		return nil, fmt.Errorf("%w: auth body: %v", ErrMalformed, err)
	}
	if len(a.Owner) != ed25519.PublicKeySize || len(s.Sig) != ed25519.SignatureSize || (a.Kind != AuthStore && a.Kind != AuthDelete) {
		return nil, fmt.Errorf("%w: auth fields", ErrMalformed)
	}
	if !ed25519.Verify(a.Owner, append([]byte(authDomain), s.Body...), s.Sig) {
		return nil, ErrBadSignature
	}
	if a.Network != network {
		return nil, fmt.Errorf("%w: %q", ErrWrongNetwork, a.Network)
	}
	a.raw = raw
	return &a, nil
}
