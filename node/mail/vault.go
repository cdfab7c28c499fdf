package mail

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/wire"
)

// The prekey vault keeps the secrets of a person's live prekeys on their
// mailbox holders, sealed under a key derived from the phrase, so a
// restore on a fresh machine reads current mail; retiring a prekey is
// writing a higher vault version without it, which holders accept only
// in increasing order, so sync cannot bring a retired secret back.

// VaultFormat is the current vault format.
const VaultFormat = 1

// MaxVaultSize bounds a signed vault; MaxVaultPrekeys bounds the live
// prekeys in it (a person rotating weekly with a 4-week grace keeps 5).
const (
	MaxVaultSize    = 8 << 10
	MaxVaultPrekeys = 32
)

// DefaultPrekeyGrace is how long a superseded prekey stays in the vault
// (so mail sealed to it just before the rotation still opens) before it
// is retired and its secret destroyed.
const DefaultPrekeyGrace = 4 * DefaultPrekeyPeriod

const (
	vaultSigDomain = "borgios/mail/prekey-vault-sig/v1\x00"
	vaultKeyInfo   = "borgios/mail/prekey-vault/v1"
	vaultADDomain  = "borgios/mail/prekey-vault-ad/v1\x00"
)

// VaultPrekey is one live prekey: its serial index (as published in the
// key record and named by sealed messages), its X25519 secret and when
// it was created (network ms).
type VaultPrekey struct {
	Index   uint64 `cbor:"1,keyasint"`
	Private []byte `cbor:"2,keyasint"`
	Created int64  `cbor:"3,keyasint"`
}

// Public is the prekey's X25519 public key.
func (p VaultPrekey) Public() []byte {
	k, err := ecdh.X25519().NewPrivateKey(p.Private)
	if err != nil {
		return nil
	}
	return k.PublicKey().Bytes()
}

type vaultPlain struct {
	Prekeys []VaultPrekey `cbor:"1,keyasint"`
}

type vaultBody struct {
	Format     int    `cbor:"1,keyasint"`
	Account    []byte `cbor:"2,keyasint"`
	Version    uint64 `cbor:"3,keyasint"`
	Time       int64  `cbor:"4,keyasint"`
	Nonce      []byte `cbor:"5,keyasint"`
	Ciphertext []byte `cbor:"6,keyasint"`
}

type signedVault struct {
	Body []byte `cbor:"1,keyasint"`
	Sig  []byte `cbor:"2,keyasint"`
}

// SignedVault is a verified, still sealed vault: what holders keep and
// pass on. Only the owner's phrase opens it.
type SignedVault struct {
	Account ed25519.PublicKey
	// Version increases with every change; holders keep the highest.
	Version uint64
	Time    int64
	nonce   []byte
	ct      []byte
	raw     []byte
}

// Raw is the signed bytes, as stored and sent.
func (v *SignedVault) Raw() []byte { return v.raw }

// vaultAEAD is the vault's key: HKDF over the X25519 root, so the phrase
// alone recovers it (and so does a phrase thief, while a version holding
// a secret still exists anywhere).
func vaultAEAD(keys *identity.Keys) interface {
	Seal(dst, nonce, plain, ad []byte) []byte
	Open(dst, nonce, ct, ad []byte) ([]byte, error)
} {
	k, err := hkdf.Key(sha256.New, keys.X25519Private[:], keys.AccountPublic(), vaultKeyInfo, chacha20poly1305.KeySize)
	if err != nil {
		panic("mail: hkdf: " + err.Error())
	}
	aead, _ := chacha20poly1305.NewX(k)
	clear(k)
	return aead
}

func vaultAD(account []byte, version uint64, time int64) []byte {
	b := append([]byte(vaultADDomain), account...)
	b = binary.BigEndian.AppendUint64(b, version)
	return binary.BigEndian.AppendUint64(b, uint64(time))
}

// SealVault seals and signs version of keys' vault holding prekeys.
func SealVault(keys *identity.Keys, version uint64, now int64, prekeys []VaultPrekey) (*SignedVault, error) {
	if len(prekeys) > MaxVaultPrekeys {
		return nil, fmt.Errorf("mail: vault: %d prekeys exceed %d", len(prekeys), MaxVaultPrekeys)
	}
	plain, err := wire.Marshal(vaultPlain{Prekeys: prekeys})
	if err != nil {
		return nil, fmt.Errorf("mail: vault: %w", err)
	}
	defer clear(plain)
	acct := keys.AccountPublic()
	b := vaultBody{Format: VaultFormat, Account: acct, Version: version, Time: now, Nonce: make([]byte, chacha20poly1305.NonceSizeX)}
	rand.Read(b.Nonce)
	b.Ciphertext = vaultAEAD(keys).Seal(nil, b.Nonce, plain, vaultAD(acct, version, now))
	body, err := wire.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("mail: vault: %w", err)
	}
	raw, err := wire.Marshal(signedVault{Body: body, Sig: ed25519.Sign(keys.Account, append([]byte(vaultSigDomain), body...))})
	if err != nil {
		return nil, fmt.Errorf("mail: vault: %w", err)
	}
	return VerifyVault(raw)
}

// VerifyVault decodes a signed vault and checks its structure and its
// signature by the account it names (what a holder can check).
func VerifyVault(raw []byte) (*SignedVault, error) {
	if len(raw) > MaxVaultSize {
		return nil, fmt.Errorf("%w: vault of %d bytes", ErrMalformed, len(raw))
	}
	var s signedVault
	if err := wire.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: vault: %v", ErrMalformed, err)
	}
	var b vaultBody
	if err := wire.Unmarshal(s.Body, &b); err != nil {
		return nil, fmt.Errorf("%w: vault body: %v", ErrMalformed, err)
	}
	if b.Format != VaultFormat || len(b.Account) != ed25519.PublicKeySize || b.Version == 0 ||
		len(b.Nonce) != chacha20poly1305.NonceSizeX || len(b.Ciphertext) < chacha20poly1305.Overhead || len(s.Sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: vault fields", ErrMalformed)
	}
	if !ed25519.Verify(b.Account, append([]byte(vaultSigDomain), s.Body...), s.Sig) {
		return nil, fmt.Errorf("%w: vault", ErrBadSignature)
	}
	return &SignedVault{Account: ed25519.PublicKey(b.Account), Version: b.Version, Time: b.Time,
		nonce: b.Nonce, ct: b.Ciphertext, raw: bytes.Clone(raw)}, nil
}

// OpenVault decrypts v with keys: the live prekeys, oldest first.
func OpenVault(keys *identity.Keys, v *SignedVault) ([]VaultPrekey, error) {
	if !v.Account.Equal(keys.AccountPublic()) {
		return nil, fmt.Errorf("%w: vault of another account", ErrNotForMe)
	}
	plain, err := vaultAEAD(keys).Open(nil, v.nonce, v.ct, vaultAD(v.Account, v.Version, v.Time))
	if err != nil {
		return nil, fmt.Errorf("%w: vault: %v", ErrCannotOpen, err)
	}
	defer clear(plain)
	return decodeVaultPlain(plain)
}

func decodeVaultPlain(plain []byte) ([]VaultPrekey, error) {
	var p vaultPlain
	if err := wire.Unmarshal(plain, &p); err != nil {
		return nil, fmt.Errorf("%w: vault contents: %v", ErrMalformed, err)
	}
	if len(p.Prekeys) > MaxVaultPrekeys {
		return nil, fmt.Errorf("%w: vault of %d prekeys", ErrMalformed, len(p.Prekeys))
	}
	for _, k := range p.Prekeys {
		if len(k.Private) != 32 || k.Index == 0 {
			return nil, fmt.Errorf("%w: vault prekey", ErrMalformed)
		}
	}
	sortPrekeys(p.Prekeys)
	return p.Prekeys, nil
}

// NewerVault reports whether v should replace cur: the higher version
// wins; the same version with other bytes (two devices rotating at once)
// goes to the larger bytes, so every holder keeps the same one and the
// loser's client sees it and tries again.
func NewerVault(cur, v *SignedVault) bool {
	if cur == nil {
		return true
	}
	if v.Version != cur.Version {
		return v.Version > cur.Version
	}
	return bytes.Compare(v.raw, cur.raw) > 0
}

func sortPrekeys(ps []VaultPrekey) {
	slices.SortFunc(ps, func(a, b VaultPrekey) int {
		if a.Created != b.Created {
			if a.Created < b.Created {
				return -1
			}
			return 1
		}
		switch {
		case a.Index < b.Index:
			return -1
		case a.Index > b.Index:
			return 1
		}
		return 0
	})
}

// PrekeyPolicy says when prekeys rotate and retire.
type PrekeyPolicy struct {
	// Period: a prekey older than this is replaced at the next publish.
	Period int64
	// Grace: a superseded prekey is retired (its secret dropped from the
	// vault) this long after its successor was created. It must be at
	// least Period, so a published record never outlives its secret.
	Grace int64
}

// Rotation is what PlanRotation decided.
type Rotation struct {
	// Keep is the next vault's prekeys, oldest first (the retired ones
	// are not in it).
	Keep []VaultPrekey
	// Current is the prekey to publish (the newest).
	Current VaultPrekey
	// Created: Current is new; Retired are dropped.
	Created bool
	Retired []VaultPrekey
}

// Changed reports whether the vault must be rewritten.
func (r Rotation) Changed() bool { return r.Created || len(r.Retired) > 0 }

// PlanRotation decides, at network time now, from the live prekeys:
// create a new prekey when there is none or the newest is Period old;
// retire every prekey whose successor is Grace old. It is a pure
// function of its arguments (random bytes from rnd).
func PlanRotation(live []VaultPrekey, now int64, p PrekeyPolicy, rnd io.Reader) (Rotation, error) {
	ps := slices.Clone(live)
	sortPrekeys(ps)
	var r Rotation
	if len(ps) == 0 || ps[len(ps)-1].Created+p.Period <= now {
		var idx uint64 = 1
		for _, k := range ps {
			idx = max(idx, k.Index+1)
		}
		priv, err := ecdh.X25519().GenerateKey(rnd)
		if err != nil {
			return r, fmt.Errorf("mail: new prekey: %w", err)
		}
		ps = append(ps, VaultPrekey{Index: idx, Private: priv.Bytes(), Created: now})
		r.Created = true
	}
	for i, k := range ps {
		retire := i < len(ps)-MaxVaultPrekeys
		for _, later := range ps[i+1:] {
			if later.Created > k.Created && now >= later.Created+p.Grace {
				retire = true
			}
		}
		if retire {
			r.Retired = append(r.Retired, k)
		} else {
			r.Keep = append(r.Keep, k)
		}
	}
	r.Current = r.Keep[len(r.Keep)-1]
	return r, nil
}
