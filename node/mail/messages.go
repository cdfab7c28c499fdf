package mail

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"github.com/borgios/borgios/node/wire"
)

// Receptor kinds of the mail cell.
const (
	// KindPublishKey: the owner's signed key record (newest wins).
	KindPublishKey = "publish-key"
	// KindGetKey: the key record kept for an account.
	KindGetKey = "get-key"
	// KindDeliver: anyone, with a valid stamp, stores a sealed message.
	KindDeliver = "deliver"
	// KindList, KindRead, KindMark, KindDelete: the owner only, by a fresh
	// request envelope signed by the mailbox's account.
	KindList   = "list"
	KindRead   = "read"
	KindMark   = "mark"
	KindDelete = "delete"
	// KindPutVault: the owner's signed, sealed prekey vault (the highest
	// version wins; a lower one is refused as stale).
	KindPutVault = "put-vault"
	// KindGetVault: the vault, to the owner only (fresh signed request
	// addressed to this holder, as list and read).
	KindGetVault = "get-vault"
	// KindArchive: the owner replaces a message sealed to a prekey with
	// its owner-signed archived copy.
	KindArchive = "archive"
	// KindSync: replication between holders; carries only self-verifying
	// items (signed records and vaults, stamped or owner-archived
	// messages, signed tombstones).
	KindSync = "sync"
)

// MaxTombIDs bounds the messages one delete names.
const MaxTombIDs = 1000

const tombSigDomain = "borgios/mail/tombstone-sig/v1\x00"

type keyMsg struct {
	Record []byte `cbor:"1,keyasint"`
}

type accountReq struct {
	Account []byte `cbor:"1,keyasint"`
	// Node is the holder the owner addressed (list): a holder that saw
	// the signed request cannot replay it to another holder.
	Node []byte `cbor:"2,keyasint,omitempty"`
}

type deliverReq struct {
	Sealed []byte `cbor:"1,keyasint"`
	Stamp  uint64 `cbor:"2,keyasint"`
}

type mailboxReq struct {
	Account []byte `cbor:"1,keyasint"`
	ID      []byte `cbor:"2,keyasint"`
	Read    bool   `cbor:"3,keyasint"`
	// Node is the holder addressed, as in accountReq.
	Node []byte `cbor:"4,keyasint"`
}

// Entry is one message in a mailbox listing.
type Entry struct {
	ID       ID    `cbor:"1,keyasint" json:"-"`
	Size     int   `cbor:"2,keyasint" json:"size"`
	Received int64 `cbor:"3,keyasint" json:"received"`
	Read     bool  `cbor:"4,keyasint" json:"read"`
}

type listAnswer struct {
	Entries []Entry `cbor:"1,keyasint"`
}

// readAnswer carries the message as sealed by its sender, or (after the
// owner read it) its archived copy.
type readAnswer struct {
	Sealed   []byte `cbor:"1,keyasint,omitempty"`
	Received int64  `cbor:"2,keyasint"`
	Read     bool   `cbor:"3,keyasint"`
	Archive  []byte `cbor:"4,keyasint,omitempty"`
}

type vaultMsg struct {
	Vault []byte `cbor:"1,keyasint"`
}

type archiveReq struct {
	Archive []byte `cbor:"1,keyasint"`
}

type syncMsg struct {
	Record   []byte `cbor:"1,keyasint,omitempty"`
	Sealed   []byte `cbor:"2,keyasint,omitempty"`
	Stamp    uint64 `cbor:"3,keyasint,omitempty"`
	Received int64  `cbor:"4,keyasint,omitempty"`
	Read     bool   `cbor:"5,keyasint,omitempty"`
	Tomb     []byte `cbor:"6,keyasint,omitempty"`
	Vault    []byte `cbor:"7,keyasint,omitempty"`
	Archive  []byte `cbor:"8,keyasint,omitempty"`
}

type tombBody struct {
	Account []byte   `cbor:"1,keyasint"`
	IDs     [][]byte `cbor:"2,keyasint"`
	Time    int64    `cbor:"3,keyasint"`
}

type deleteReq struct {
	Tomb []byte `cbor:"1,keyasint"`
}

func decodeDelete(b []byte) (*tomb, error) {
	var r deleteReq
	if err := wire.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: delete: %v", ErrMalformed, err)
	}
	return decodeTomb(r.Tomb)
}

type signedTomb struct {
	Body []byte `cbor:"1,keyasint"`
	Sig  []byte `cbor:"2,keyasint"`
}

// tomb is a verified deletion by the mailbox owner. Holders keep and pass
// it on in sync so a holder that missed the delete does not bring the
// message back; replaying it only deletes the same messages again.
type tomb struct {
	Account ed25519.PublicKey
	IDs     []ID
	Time    int64
	raw     []byte
}

func signTomb(account ed25519.PrivateKey, ids []ID, now int64) ([]byte, error) {
	b := tombBody{Account: account.Public().(ed25519.PublicKey), Time: now}
	for _, id := range ids {
		b.IDs = append(b.IDs, bytes.Clone(id[:]))
	}
	body, err := wire.Marshal(b)
	if err != nil {
		return nil, err
	}
	return wire.Marshal(signedTomb{Body: body, Sig: ed25519.Sign(account, append([]byte(tombSigDomain), body...))})
}

func decodeTomb(raw []byte) (*tomb, error) {
	if len(raw) > MaxTombIDs*40+1024 {
		return nil, fmt.Errorf("%w: tombstone of %d bytes", ErrMalformed, len(raw))
	}
	var s signedTomb
	if err := wire.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: tombstone: %v", ErrMalformed, err)
	}
	var b tombBody
	if err := wire.Unmarshal(s.Body, &b); err != nil {
		return nil, fmt.Errorf("%w: tombstone body: %v", ErrMalformed, err)
	}
	if len(b.Account) != ed25519.PublicKeySize || len(s.Sig) != ed25519.SignatureSize || len(b.IDs) == 0 || len(b.IDs) > MaxTombIDs {
		return nil, fmt.Errorf("%w: tombstone fields", ErrMalformed)
	}
	t := &tomb{Account: ed25519.PublicKey(b.Account), Time: b.Time, raw: bytes.Clone(raw)}
	for _, id := range b.IDs {
		if len(id) != sha256.Size {
			return nil, fmt.Errorf("%w: tombstone ID of %d bytes", ErrMalformed, len(id))
		}
		t.IDs = append(t.IDs, ID(id))
	}
	if !ed25519.Verify(t.Account, append([]byte(tombSigDomain), s.Body...), s.Sig) {
		return nil, fmt.Errorf("%w: tombstone", ErrBadSignature)
	}
	return t, nil
}

func decodeAccountReq(b []byte) (*accountReq, error) {
	var r accountReq
	if err := wire.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: request: %v", ErrMalformed, err)
	}
	if len(r.Account) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: account of %d bytes", ErrMalformed, len(r.Account))
	}
	return &r, nil
}

// decodeDeliver returns the checked sealed message, its ID and stamp.
func decodeDeliver(b []byte) (*Sealed, []byte, ID, uint64, error) {
	var r deliverReq
	if err := wire.Unmarshal(b, &r); err != nil {
		return nil, nil, ID{}, 0, fmt.Errorf("%w: deliver: %v", ErrMalformed, err)
	}
	s, err := DecodeSealed(r.Sealed)
	if err != nil {
		return nil, nil, ID{}, 0, err
	}
	return s, r.Sealed, ID(sha256.Sum256(r.Sealed)), r.Stamp, nil
}

func decodeMailboxReq(b []byte) (*mailboxReq, ID, error) {
	var r mailboxReq
	if err := wire.Unmarshal(b, &r); err != nil {
		return nil, ID{}, fmt.Errorf("%w: request: %v", ErrMalformed, err)
	}
	if len(r.Account) != ed25519.PublicKeySize || len(r.ID) != sha256.Size {
		return nil, ID{}, fmt.Errorf("%w: request fields", ErrMalformed)
	}
	return &r, ID(r.ID), nil
}

func decodeSyncMsg(b []byte) (*syncMsg, error) {
	var m syncMsg
	if err := wire.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: sync: %v", ErrMalformed, err)
	}
	return &m, nil
}

func decodeList(b []byte) ([]Entry, error) {
	var a listAnswer
	if err := wire.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%w: list answer: %v", ErrMalformed, err)
	}
	return a.Entries, nil
}

func decodeReadAnswer(b []byte) (*readAnswer, error) {
	var a readAnswer
	if err := wire.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%w: read answer: %v", ErrMalformed, err)
	}
	if (a.Sealed == nil) == (a.Archive == nil) {
		return nil, fmt.Errorf("%w: read answer carries %s", ErrMalformed, "neither or both of sealed and archived")
	}
	if a.Sealed != nil {
		if _, err := DecodeSealed(a.Sealed); err != nil {
			return nil, err
		}
	}
	return &a, nil
}

func decodeVaultMsg(b []byte) (*SignedVault, error) {
	var m vaultMsg
	if err := wire.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: vault message: %v", ErrMalformed, err)
	}
	return VerifyVault(m.Vault)
}

func decodeArchiveReq(b []byte) (*archived, error) {
	var r archiveReq
	if err := wire.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: archive request: %v", ErrMalformed, err)
	}
	return decodeArchive(r.Archive)
}
