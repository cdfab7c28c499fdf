package mail

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

// RecordVersion is the current key record format: 2 names a random
// prekey kept in the owner's vault (1 named a prekey derived from the
// phrase; such records are no longer accepted).
const RecordVersion = 2

// MaxRecordSize bounds a signed key record.
const MaxRecordSize = 1024

// DefaultPrekeyPeriod is how long one prekey is current: the client
// publishing after that creates a new one.
const DefaultPrekeyPeriod int64 = 7 * 24 * 3600 * 1000

// DefaultPrekeyRetain is how many past periods' legacy (derived,
// SealedVersion 1) prekeys a client still derives to open old mail.
const DefaultPrekeyRetain = 8

const (
	recordSigDomain = "borgios/mail/key-record-sig/v1\x00"
	prekeyInfo      = "borgios/mail/prekey/v1"
	mailboxDomain   = "borgios/mail/mailbox-id/v1\x00"
)

// KeyRecord is what a sender needs to seal to an account: its long-term
// X25519 key and its current prekey, signed by the account key.
type KeyRecord struct {
	Version int `cbor:"1,keyasint"`
	// Account is the owner's Ed25519 account key; it signs the record.
	Account []byte `cbor:"2,keyasint"`
	// X25519 is the long-term key (identity.Keys.X25519Public).
	X25519 []byte `cbor:"3,keyasint"`
	// Prekey is the X25519 public key of the random prekey PrekeyIndex
	// (a serial number), whose secret is in the owner's vault.
	Prekey      []byte `cbor:"4,keyasint"`
	PrekeyIndex uint64 `cbor:"5,keyasint"`
	// PrekeyExpiry (network ms): senders fall back to the long-term key
	// after it, so a person who stopped publishing still gets mail.
	PrekeyExpiry int64 `cbor:"6,keyasint"`
	// Time (network ms) orders records: the newest wins.
	Time int64 `cbor:"7,keyasint"`
}

type signedRecord struct {
	Body []byte `cbor:"1,keyasint"`
	Sig  []byte `cbor:"2,keyasint"`
}

// SignedRecord is a verified key record with the exact bytes it came in.
type SignedRecord struct {
	KeyRecord
	raw []byte
}

// Raw is the signed bytes, as stored and sent.
func (r *SignedRecord) Raw() []byte { return r.raw }

// legacyPrekey derives a version-1 (phrase-derived) prekey, to open mail
// sealed before random prekeys: HKDF-SHA256 over the X25519 root.
func legacyPrekey(keys *identity.Keys, index uint64) *ecdh.PrivateKey {
	info := binary.BigEndian.AppendUint64([]byte(prekeyInfo), index)
	k, err := hkdf.Key(sha256.New, keys.X25519Private[:], keys.Account.Public().(ed25519.PublicKey), string(info), 32)
	if err != nil {
		panic("mail: hkdf: " + err.Error())
	}
	priv, err := ecdh.X25519().NewPrivateKey(k)
	if err != nil {
		panic("mail: x25519: " + err.Error())
	}
	return priv
}

// PrekeyIndex is the legacy prekey index current at network time now.
func PrekeyIndex(now, period int64) uint64 {
	if now < 0 || period <= 0 {
		return 0
	}
	return uint64(now / period)
}

// NewKeyRecord signs the record publishing prekey p until expiry (network
// ms; senders fall back to the long-term key after it).
func NewKeyRecord(keys *identity.Keys, p VaultPrekey, expiry, now int64) (*SignedRecord, error) {
	pub := p.Public()
	if pub == nil || p.Index == 0 {
		return nil, fmt.Errorf("mail: sign key record: bad prekey")
	}
	r := KeyRecord{
		Version: RecordVersion, Account: keys.AccountPublic(),
		X25519: bytes.Clone(keys.X25519Public[:]), Prekey: pub,
		PrekeyIndex: p.Index, PrekeyExpiry: expiry, Time: now,
	}
	body, err := wire.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("mail: sign key record: %w", err)
	}
	raw, err := wire.Marshal(signedRecord{Body: body, Sig: ed25519.Sign(keys.Account, append([]byte(recordSigDomain), body...))})
	if err != nil {
		return nil, fmt.Errorf("mail: sign key record: %w", err)
	}
	return VerifyRecord(raw)
}

// VerifyRecord decodes a signed key record and checks its structure and
// its signature by the account it names.
func VerifyRecord(raw []byte) (*SignedRecord, error) {
	if len(raw) > MaxRecordSize {
		return nil, fmt.Errorf("%w: key record of %d bytes", ErrMalformed, len(raw))
	}
	var s signedRecord
	if err := wire.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: key record: %v", ErrMalformed, err)
	}
	var r KeyRecord
	if err := wire.Unmarshal(s.Body, &r); err != nil {
		return nil, fmt.Errorf("%w: key record body: %v", ErrMalformed, err)
	}
	if r.Version != RecordVersion || len(r.Account) != ed25519.PublicKeySize || len(r.X25519) != 32 || len(r.Prekey) != 32 || r.PrekeyIndex == 0 || len(s.Sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: key record fields", ErrMalformed)
	}
	if !ed25519.Verify(r.Account, append([]byte(recordSigDomain), s.Body...), s.Sig) {
		return nil, fmt.Errorf("%w: key record", ErrBadSignature)
	}
	return &SignedRecord{KeyRecord: r, raw: bytes.Clone(raw)}, nil
}

// Newer reports whether r should replace cur (newest time wins; a tie
// goes to the larger bytes so every holder keeps the same record).
func Newer(cur, r *SignedRecord) bool {
	if cur == nil {
		return true
	}
	if r.Time != cur.Time {
		return r.Time > cur.Time
	}
	return bytes.Compare(r.raw, cur.raw) > 0
}

// MailboxID is where an account's key record and mail live: its holders
// are the top k mail nodes for this ID by rendezvous hashing.
func MailboxID(account ed25519.PublicKey) shard.ID {
	return shard.ID(sha256.Sum256(append([]byte(mailboxDomain), account...)))
}
