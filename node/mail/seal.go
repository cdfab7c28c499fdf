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
	"math/bits"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/wire"
)

// SealedVersion is the current sealed message format: 2 seals to a random
// prekey from the recipient's vault (1, still opened, to a prekey derived
// from the phrase).
const SealedVersion = 2

// MaxSealedSize bounds a sealed message: text plus attachment references;
// attachment contents live in the shard store.
const MaxSealedSize = 256 << 10

const (
	sealInfo        = "borgios/mail/seal/v1"
	letterSigDomain = "borgios/mail/letter-sig/v1\x00"
	stampDomain     = "borgios/mail/stamp/v1\x00"
)

// ID names a sealed message: the SHA-256 of its bytes.
type ID [32]byte

// Sealed is a message as nodes see it: the recipient, which of their keys
// it is sealed to, the sender's ephemeral key, and ciphertext.
type Sealed struct {
	Version int    `cbor:"1,keyasint"`
	To      []byte `cbor:"2,keyasint"`
	// Prekey says the message is sealed to prekey PrekeyIndex; false means
	// the long-term key (no forward secrecy: the recipient had published
	// no valid prekey).
	Prekey      bool   `cbor:"3,keyasint"`
	PrekeyIndex uint64 `cbor:"4,keyasint"`
	Ephemeral   []byte `cbor:"5,keyasint"`
	Nonce       []byte `cbor:"6,keyasint"`
	Ciphertext  []byte `cbor:"7,keyasint"`
}

// Attachment is a file stored in the shard store under its own random
// file-key root, which only the sealed letter carries.
type Attachment struct {
	Name string `cbor:"1,keyasint"`
	Size int64  `cbor:"2,keyasint"`
	// Root is the attachment's file-key root (shard.FileKey input).
	Root []byte `cbor:"3,keyasint"`
	// Manifest is the shard manifest, encoded (wire.Marshal).
	Manifest []byte `cbor:"4,keyasint"`
}

// Letter is what the sender wrote; it is signed by From and then sealed.
type Letter struct {
	From        []byte       `cbor:"1,keyasint"`
	To          []byte       `cbor:"2,keyasint"`
	Subject     string       `cbor:"3,keyasint"`
	Body        string       `cbor:"4,keyasint"`
	Attachments []Attachment `cbor:"5,keyasint"`
	// Time is the sender's network time (Unix ms).
	Time int64 `cbor:"6,keyasint"`
	// NoPrekey: the sender found no valid prekey for the recipient and
	// sealed to their long-term key; the recipient's client shows it.
	NoPrekey bool `cbor:"7,keyasint,omitempty"`
}

type signedLetter struct {
	Letter []byte `cbor:"1,keyasint"`
	Sig    []byte `cbor:"2,keyasint"`
}

// SealLetter signs l with the sender's account key (From and To are set
// here: To binds the signature to this recipient, so a recipient cannot
// re-seal a signed letter to a third party as if it were sent to them)
// and seals it to rec: its prekey unless expired at now, else its
// long-term key, which the letter then says (NoPrekey).
func SealLetter(sender ed25519.PrivateKey, rec *SignedRecord, l Letter, now int64) ([]byte, ID, error) {
	l.From = sender.Public().(ed25519.PublicKey)
	l.To = bytes.Clone(rec.Account)
	l.NoPrekey = now >= rec.PrekeyExpiry
	body, err := wire.Marshal(l)
	if err != nil {
		return nil, ID{}, fmt.Errorf("mail: seal: %w", err)
	}
	inner, err := wire.Marshal(signedLetter{Letter: body, Sig: ed25519.Sign(sender, append([]byte(letterSigDomain), body...))})
	if err != nil {
		return nil, ID{}, fmt.Errorf("mail: seal: %w", err)
	}
	return sealInner(rec, inner, now)
}

// sealInner encrypts inner bytes to rec; tests use it to seal forgeries.
func sealInner(rec *SignedRecord, inner []byte, now int64) ([]byte, ID, error) {
	s := Sealed{Version: SealedVersion, To: bytes.Clone(rec.Account)}
	to := rec.X25519
	if now < rec.PrekeyExpiry {
		s.Prekey, s.PrekeyIndex, to = true, rec.PrekeyIndex, rec.Prekey
	}
	pub, err := ecdh.X25519().NewPublicKey(to)
	if err != nil {
		return nil, ID{}, fmt.Errorf("mail: seal: recipient key: %w", err)
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, ID{}, fmt.Errorf("mail: seal: %w", err)
	}
	shared, err := eph.ECDH(pub)
	if err != nil {
		return nil, ID{}, fmt.Errorf("mail: seal: %w", err)
	}
	s.Ephemeral = eph.PublicKey().Bytes()
	s.Nonce = make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(s.Nonce)
	aead := sealAEAD(shared, s.Ephemeral, to)
	s.Ciphertext = aead.Seal(nil, s.Nonce, inner, s.ad())
	raw, err := wire.Marshal(s)
	if err != nil {
		return nil, ID{}, fmt.Errorf("mail: seal: %w", err)
	}
	if len(raw) > MaxSealedSize {
		return nil, ID{}, fmt.Errorf("mail: seal: %d bytes exceeds %d", len(raw), MaxSealedSize)
	}
	return raw, ID(sha256.Sum256(raw)), nil
}

// sealAEAD: HKDF-SHA256 over the X25519 output, salted with both public
// keys so the key is bound to this exchange.
func sealAEAD(shared, eph, to []byte) interface {
	Seal(dst, nonce, plain, ad []byte) []byte
	Open(dst, nonce, ct, ad []byte) ([]byte, error)
} {
	k, err := hkdf.Key(sha256.New, shared, append(bytes.Clone(eph), to...), sealInfo, chacha20poly1305.KeySize)
	if err != nil {
		panic("mail: hkdf: " + err.Error())
	}
	aead, _ := chacha20poly1305.NewX(k)
	return aead
}

// ad authenticates everything outside the ciphertext (version 1 did not
// include the version).
func (s *Sealed) ad() []byte {
	b := append([]byte(sealInfo), s.To...)
	if s.Version >= 2 {
		b = append(b, byte(s.Version))
	}
	if s.Prekey {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint64(b, s.PrekeyIndex)
	return append(b, s.Ephemeral...)
}

// DecodeSealed checks a sealed message's structure (what a node can check).
func DecodeSealed(raw []byte) (*Sealed, error) {
	if len(raw) > MaxSealedSize {
		return nil, fmt.Errorf("%w: sealed message of %d bytes", ErrMalformed, len(raw))
	}
	var s Sealed
	if err := wire.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: sealed message: %v", ErrMalformed, err)
	}
	if (s.Version != SealedVersion && s.Version != 1) || len(s.To) != ed25519.PublicKeySize || len(s.Ephemeral) != 32 ||
		len(s.Nonce) != chacha20poly1305.NonceSizeX || len(s.Ciphertext) < chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: sealed message fields", ErrMalformed)
	}
	if !s.Prekey && s.PrekeyIndex != 0 || s.Version >= 2 && s.Prekey && s.PrekeyIndex == 0 {
		return nil, fmt.Errorf("%w: prekey index", ErrMalformed)
	}
	return &s, nil
}

// Opened is a message after decryption.
type Opened struct {
	Letter
	// Verified: the letter is signed by its claimed sender and addressed
	// to us. A false Verified is a flagged message: show Problem, never
	// the From as its author.
	Verified bool
	Problem  string
	// LongTerm: sealed to the long-term key, without forward secrecy
	// (the sender found no valid prekey of ours); show it.
	LongTerm bool
	// Archived: read from the owner's archive (re-sealed after the first
	// read), not from the sender's seal.
	Archived bool
}

// OpenOptions says which prekeys the reader holds.
type OpenOptions struct {
	// Prekeys are the live prekeys from the owner's vault; a message
	// sealed to a retired one no longer opens.
	Prekeys []VaultPrekey
	// Now, Period and Retain bound the legacy (version 1) prekeys still
	// derived: Retain periods back from Now's (DefaultPrekeyRetain).
	Now, Period int64
	Retain      uint64
}

// OpenSealed decrypts a sealed message with keys and verifies the
// sender's inner signature. A decryption failure (ErrCannotOpen: a
// retired prekey, tampering) is an error; a bad or mismatched signature
// still returns the letter, flagged.
func OpenSealed(keys *identity.Keys, raw []byte, o OpenOptions) (*Opened, error) {
	op, _, err := openSealed(keys, raw, o)
	return op, err
}

// openSealed also returns the inner signed letter, for the archive.
func openSealed(keys *identity.Keys, raw []byte, o OpenOptions) (*Opened, []byte, error) {
	s, err := DecodeSealed(raw)
	if err != nil {
		return nil, nil, err
	}
	me := keys.AccountPublic()
	if !bytes.Equal(s.To, me) {
		return nil, nil, ErrNotForMe
	}
	var privs []*ecdh.PrivateKey
	switch {
	case s.Prekey && s.Version == 1:
		if o.Period <= 0 {
			o.Period = DefaultPrekeyPeriod
		}
		if o.Retain == 0 {
			o.Retain = DefaultPrekeyRetain
		}
		cur := PrekeyIndex(o.Now, o.Period)
		// Indexes a little ahead are allowed: a clock behind the sender's.
		if s.PrekeyIndex+o.Retain < cur || s.PrekeyIndex > cur+2 {
			return nil, nil, fmt.Errorf("%w: legacy prekey %d is outside the retained range around %d", ErrCannotOpen, s.PrekeyIndex, cur)
		}
		privs = append(privs, legacyPrekey(keys, s.PrekeyIndex))
	case s.Prekey:
		// Two devices rotating at once may both have made this index.
		for _, p := range o.Prekeys {
			if p.Index == s.PrekeyIndex {
				if k, err := ecdh.X25519().NewPrivateKey(p.Private); err == nil {
					privs = append(privs, k)
				}
			}
		}
		if len(privs) == 0 {
			return nil, nil, fmt.Errorf("%w: prekey %d is not in the vault (retired)", ErrCannotOpen, s.PrekeyIndex)
		}
	default:
		k, err := ecdh.X25519().NewPrivateKey(keys.X25519Private[:])
		if err != nil {
			return nil, nil, fmt.Errorf("mail: open: %w", err)
		}
		privs = append(privs, k)
	}
	eph, err := ecdh.X25519().NewPublicKey(s.Ephemeral)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: ephemeral key: %v", ErrCannotOpen, err)
	}
	var lastErr error
	for _, priv := range privs {
		shared, err := priv.ECDH(eph)
		if err != nil {
			lastErr = err
			continue
		}
		inner, err := sealAEAD(shared, s.Ephemeral, priv.PublicKey().Bytes()).Open(nil, s.Nonce, s.Ciphertext, s.ad())
		if err != nil {
			lastErr = err
			continue
		}
		op, err := openInner(inner, me)
		if err != nil {
			return nil, nil, err
		}
		op.LongTerm = !s.Prekey
		return op, inner, nil
	}
	return nil, nil, fmt.Errorf("%w: %v", ErrCannotOpen, lastErr)
}

func openInner(inner []byte, me ed25519.PublicKey) (*Opened, error) {
	var sl signedLetter
	if err := wire.Unmarshal(inner, &sl); err != nil {
		return nil, fmt.Errorf("%w: letter: %v", ErrMalformed, err)
	}
	var l Letter
	if err := wire.Unmarshal(sl.Letter, &l); err != nil {
		return nil, fmt.Errorf("%w: letter body: %v", ErrMalformed, err)
	}
	o := &Opened{Letter: l}
	switch {
	case len(l.From) != ed25519.PublicKeySize || len(sl.Sig) != ed25519.SignatureSize:
		o.Problem = "the letter carries no valid sender signature"
	case !ed25519.Verify(ed25519.PublicKey(l.From), append([]byte(letterSigDomain), sl.Letter...), sl.Sig):
		o.Problem = "the letter is not signed by its claimed sender " + identity.Address(ed25519.PublicKey(l.From))
	case !bytes.Equal(l.To, me):
		o.Problem = "the sender signed this letter for another recipient (forwarded as if sent to you)"
	default:
		o.Verified = true
	}
	return o, nil
}

// StampValid reports whether nonce is a proof-of-work stamp of at least
// difficulty leading zero bits over the message ID and its recipient.
func StampValid(id ID, to ed25519.PublicKey, nonce uint64, difficulty int) bool {
	if difficulty <= 0 {
		return true
	}
	return stampBits(id, to, nonce) >= difficulty
}

func stampBits(id ID, to ed25519.PublicKey, nonce uint64) int {
	var buf [len(stampDomain) + 32 + ed25519.PublicKeySize + 8]byte
	b := append(buf[:0], stampDomain...)
	b = append(b, id[:]...)
	b = append(b, to...)
	b = binary.BigEndian.AppendUint64(b, nonce)
	h := sha256.Sum256(b)
	n := 0
	for i := 0; i < len(h); i += 8 {
		w := binary.BigEndian.Uint64(h[i:])
		n += bits.LeadingZeros64(w)
		if w != 0 {
			break
		}
	}
	return n
}

// MintStamp searches for a stamp of difficulty bits: 2^difficulty hashes
// on average (2^20, about 0.3 s on one core, by default).
func MintStamp(id ID, to ed25519.PublicKey, difficulty int) uint64 {
	var start [8]byte
	rand.Read(start[:])
	for n := binary.BigEndian.Uint64(start[:]); ; n++ {
		if StampValid(id, to, n, difficulty) {
			return n
		}
	}
}
