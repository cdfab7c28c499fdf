package mail

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/wire"
)

// The archive: once the owner has opened a message sealed to a prekey,
// the client re-seals the signed letter under the owner's archive key
// (derived from the phrase) and the holders replace the prekey-sealed
// bytes with it, so retiring the prekey later loses nothing the owner
// has read.

// MaxArchiveSize bounds an archived message.
const MaxArchiveSize = MaxSealedSize + 1024

const (
	archiveSigDomain = "borgios/mail/archive-sig/v1\x00"
	archiveKeyInfo   = "borgios/mail/archive/v1"
	archiveADDomain  = "borgios/mail/archive-ad/v1\x00"
)

type archiveBody struct {
	Account    []byte `cbor:"1,keyasint"`
	ID         []byte `cbor:"2,keyasint"`
	Time       int64  `cbor:"3,keyasint"`
	Nonce      []byte `cbor:"4,keyasint"`
	Ciphertext []byte `cbor:"5,keyasint"`
}

type signedArchive struct {
	Body []byte `cbor:"1,keyasint"`
	Sig  []byte `cbor:"2,keyasint"`
}

// archivePlain is what the archive seals: the sender-signed letter bytes
// as they came out of the seal, and how the message had been sealed.
type archivePlain struct {
	Inner    []byte `cbor:"1,keyasint"`
	LongTerm bool   `cbor:"2,keyasint,omitempty"`
}

// archived is a verified archive item: owner-signed, so holders accept
// it in place of the stamped sealed message.
type archived struct {
	Account ed25519.PublicKey
	ID      ID
	Time    int64
	nonce   []byte
	ct      []byte
	raw     []byte
}

func archiveAEAD(keys *identity.Keys) interface {
	Seal(dst, nonce, plain, ad []byte) []byte
	Open(dst, nonce, ct, ad []byte) ([]byte, error)
} {
	k, err := hkdf.Key(sha256.New, keys.X25519Private[:], keys.AccountPublic(), archiveKeyInfo, chacha20poly1305.KeySize)
	if err != nil {
		panic("mail: hkdf: " + err.Error())
	}
	aead, _ := chacha20poly1305.NewX(k)
	clear(k)
	return aead
}

func archiveAD(account []byte, id ID) []byte {
	return append(append([]byte(archiveADDomain), account...), id[:]...)
}

// sealArchive seals inner (the signed letter of message id) to keys'
// archive and signs it.
func sealArchive(keys *identity.Keys, id ID, inner []byte, longTerm bool, now int64) ([]byte, error) {
	plain, err := wire.Marshal(archivePlain{Inner: inner, LongTerm: longTerm})
	if err != nil {
		return nil, fmt.Errorf("mail: archive: %w", err)
	}
	acct := keys.AccountPublic()
	b := archiveBody{Account: acct, ID: bytes.Clone(id[:]), Time: now, Nonce: make([]byte, chacha20poly1305.NonceSizeX)}
	rand.Read(b.Nonce)
	b.Ciphertext = archiveAEAD(keys).Seal(nil, b.Nonce, plain, archiveAD(acct, id))
	body, err := wire.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("mail: archive: %w", err)
	}
	raw, err := wire.Marshal(signedArchive{Body: body, Sig: ed25519.Sign(keys.Account, append([]byte(archiveSigDomain), body...))})
	if err != nil {
		return nil, fmt.Errorf("mail: archive: %w", err)
	}
	if len(raw) > MaxArchiveSize {
		return nil, fmt.Errorf("mail: archive: %d bytes exceeds %d", len(raw), MaxArchiveSize)
	}
	return raw, nil
}

// decodeArchive checks an archive item's structure and owner signature.
func decodeArchive(raw []byte) (*archived, error) {
	if len(raw) > MaxArchiveSize {
		return nil, fmt.Errorf("%w: archived message of %d bytes", ErrMalformed, len(raw))
	}
	var s signedArchive
	if err := wire.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: archived message: %v", ErrMalformed, err)
	}
	var b archiveBody
	if err := wire.Unmarshal(s.Body, &b); err != nil {
		return nil, fmt.Errorf("%w: archived message body: %v", ErrMalformed, err)
	}
	if len(b.Account) != ed25519.PublicKeySize || len(b.ID) != sha256.Size || len(b.Nonce) != chacha20poly1305.NonceSizeX ||
		len(b.Ciphertext) < chacha20poly1305.Overhead || len(s.Sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: archived message fields", ErrMalformed)
	}
	if !ed25519.Verify(b.Account, append([]byte(archiveSigDomain), s.Body...), s.Sig) {
		return nil, fmt.Errorf("%w: archived message", ErrBadSignature)
	}
	return &archived{Account: ed25519.PublicKey(b.Account), ID: ID(b.ID), Time: b.Time, nonce: b.Nonce, ct: b.Ciphertext, raw: bytes.Clone(raw)}, nil
}

// openArchive decrypts an archived message and verifies the sender's
// signature inside, as OpenSealed does.
func openArchive(keys *identity.Keys, a *archived) (*Opened, error) {
	me := keys.AccountPublic()
	if !a.Account.Equal(me) {
		return nil, ErrNotForMe
	}
	plain, err := archiveAEAD(keys).Open(nil, a.nonce, a.ct, archiveAD(me, a.ID))
	if err != nil {
		return nil, fmt.Errorf("%w: archived message: %v", ErrCannotOpen, err)
	}
	var p archivePlain
	if err := wire.Unmarshal(plain, &p); err != nil {
		return nil, fmt.Errorf("%w: archived message contents: %v", ErrMalformed, err)
	}
	o, err := openInner(p.Inner, me)
	if err != nil {
		return nil, err
	}
	o.LongTerm, o.Archived = p.LongTerm, true
	return o, nil
}
