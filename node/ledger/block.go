package ledger

import (
	"crypto/ed25519"
	"fmt"
)

// BlockVersion is the block layout version this package reads and writes.
const BlockVersion = 1

// MaxReceiveSources bounds how many sends one receive block credits; a
// merchant credits many payments with one certificate instead of one each.
const MaxReceiveSources = 64

const blockDomain = "borgios/ledger/block/v1\x00"

// OpKind identifies an operation.
type OpKind uint8

// The operation kinds; their numbers are part of the encoding.
const (
	KindSend       OpKind = 1
	KindReceive    OpKind = 2
	KindReward     OpKind = 3
	KindLaneOpen   OpKind = 4
	KindLaneRedeem OpKind = 5
	KindLaneClose  OpKind = 6
	KindLaneSettle OpKind = 7
)

func (k OpKind) String() string {
	switch k {
	case KindSend:
		return "send"
	case KindReceive:
		return "receive"
	case KindReward:
		return "reward"
	case KindLaneOpen:
		return "lane-open"
	case KindLaneRedeem:
		return "lane-redeem"
	case KindLaneClose:
		return "lane-close"
	case KindLaneSettle:
		return "lane-settle"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Op is one of *Send, *Receive, *Reward, *LaneOpen, *LaneRedeem,
// *LaneClose, *LaneSettle.
type Op interface {
	Kind() OpKind
	encode(w *writer)
}

// Send debits Amount+Fee from the account. Amount waits in flight until
// the recipient's chain credits it with a Receive; Fee goes to the treasury.
type Send struct {
	To     AccountID
	Amount Amount
	Fee    Amount
}

// Receive credits certified sends to this account, each exactly once.
type Receive struct {
	Sources []Hash // hashes of certified Send blocks
}

// Reward pays the treasury's reward for one proof of verified work. It
// sits on the chain of the node that did the work (the node key is an
// account too), so each node's proofs are paid in that one chain's order
// and "never paid twice" is decided there, deterministically. The payout
// goes in flight to the owner named by the binding, whose chain credits
// it with a Receive like any send.
type Reward struct {
	Proof   ServiceProof
	Binding NodeBinding
	Amount  Amount // must equal Proof's earnings under the genesis rates
}

// LaneOpen locks Amount from the payer (this account) in a payment lane to
// Payee. The lane's ID is this block's hash.
type LaneOpen struct {
	Payee  AccountID
	Amount Amount
}

// LaneRedeem credits the payee (this account) with the part of Voucher's
// cumulative amount not redeemed before.
type LaneRedeem struct {
	Voucher Voucher
}

// LaneClose starts the dispute window of the payer's lane at time At
// (network milliseconds); the payee may still redeem until it ends.
type LaneClose struct {
	Lane Hash
	At   uint64
}

// LaneSettle returns Refund to the payer after the dispute window and
// ends the lane.
type LaneSettle struct {
	Lane   Hash
	Refund Amount
}

func (*Send) Kind() OpKind       { return KindSend }
func (*Receive) Kind() OpKind    { return KindReceive }
func (*Reward) Kind() OpKind     { return KindReward }
func (*LaneOpen) Kind() OpKind   { return KindLaneOpen }
func (*LaneRedeem) Kind() OpKind { return KindLaneRedeem }
func (*LaneClose) Kind() OpKind  { return KindLaneClose }
func (*LaneSettle) Kind() OpKind { return KindLaneSettle }

func (o *Send) encode(w *writer) { w.acct(o.To); w.amount(o.Amount); w.amount(o.Fee) }
func (o *Receive) encode(w *writer) {
	w.u16(uint16(len(o.Sources)))
	for _, h := range o.Sources {
		w.hash(h)
	}
}
func (o *Reward) encode(w *writer) {
	o.Proof.encode(w)
	o.Binding.encode(w)
	w.amount(o.Amount)
}
func (o *LaneOpen) encode(w *writer)   { w.acct(o.Payee); w.amount(o.Amount) }
func (o *LaneRedeem) encode(w *writer) { o.Voucher.encode(w) }
func (o *LaneClose) encode(w *writer)  { w.hash(o.Lane); w.u64(o.At) }
func (o *LaneSettle) encode(w *writer) { w.hash(o.Lane); w.amount(o.Refund) }

// Block is one link of an account's chain. The account's owner signs it;
// witnesses certify it.
//
// Layout (version 1, big-endian):
//
//	version u8 | genesis [32] | account [32] | seq u64 | prev [32] |
//	kind u8 | op body | signer [32] | signature [64]
type Block struct {
	Genesis Hash
	Account AccountID
	Seq     uint64 // 0 for an account's first block
	Prev    Hash   // hash of block Seq-1; zero for Seq 0
	Op      Op
	// Signer is the key that signed. Today it must equal Account; keeping
	// it separate gives "wrong key" its own error and leaves room for key
	// rotation without a new layout.
	Signer AccountID
	Sig    Signature
}

func (b *Block) appendUnsigned(w *writer) {
	w.u8(BlockVersion)
	w.hash(b.Genesis)
	w.acct(b.Account)
	w.u64(b.Seq)
	w.hash(b.Prev)
	w.u8(uint8(b.Op.Kind()))
	b.Op.encode(w)
	w.acct(b.Signer)
}

// Hash identifies the block: a domain-separated SHA-256 of everything but
// the signature, so the identity of a block is what its owner meant,
// independent of signature bytes.
func (b *Block) Hash() Hash {
	w := getWriter()
	b.appendUnsigned(w)
	h := hashWith(blockDomain, w.b)
	putWriter(w)
	return h
}

// hashEncoded is the hash of the block whose canonical encoding is enc:
// the encoding is the hashed bytes followed by the 64-byte signature.
// Only for bytes that decoded (so are canonical).
func hashEncoded(enc []byte) Hash {
	return hashWith(blockDomain, enc[:len(enc)-len(Signature{})])
}

// Encode returns the block's canonical bytes.
func (b *Block) Encode() []byte {
	var w writer
	w.b = make([]byte, 0, 256)
	b.appendUnsigned(&w)
	w.sig(b.Sig)
	return w.b
}

// Sign sets Signer and Sig with key.
func (b *Block) Sign(key ed25519.PrivateKey) {
	copy(b.Signer[:], key.Public().(ed25519.PublicKey))
	h := b.Hash()
	copy(b.Sig[:], signMsg(key, h[:]))
}

// VerifySignature checks that the owner signed: ErrWrongKey if the signer
// is not the account's key, ErrBadSignature if the signature is invalid.
func (b *Block) VerifySignature() error {
	_, err := b.verifySignature(nil)
	return err
}

// verifySignature is VerifySignature with the signer's expanded key from
// keys (nil: none), and it returns the block hash it computed.
func (b *Block) verifySignature(keys *keyCache) (Hash, error) {
	if b.Signer != b.Account {
		return Hash{}, fmt.Errorf("block %s/%d signed by %s: %w", b.Account.Short(), b.Seq, b.Signer.Short(), ErrWrongKey)
	}
	h := b.Hash()
	var ok bool
	if keys != nil {
		ok = keys.verify(b.Signer, h[:], &b.Sig)
	} else {
		ok = verifySig(b.Signer[:], h[:], b.Sig[:])
	}
	if !ok {
		return h, fmt.Errorf("block %s/%d: %w", b.Account.Short(), b.Seq, ErrBadSignature)
	}
	return h, nil
}

// DecodeBlock decodes canonical block bytes. It checks layout only; the
// signature and the ledger rules are checked by VerifySignature and by
// witnesses.
func DecodeBlock(data []byte) (*Block, error) {
	r := reader{b: data}
	b, err := readBlock(&r)
	if err != nil {
		return nil, err
	}
	if err := r.done("block"); err != nil {
		return nil, err
	}
	return b, nil
}

func readBlock(r *reader) (*Block, error) {
	if v := r.u8("version"); r.err == nil && v != BlockVersion {
		return nil, fmt.Errorf("decode block: version %d: %w", v, ErrMalformed)
	}
	b := &Block{}
	b.Genesis = r.hash("genesis")
	b.Account = r.acct("account")
	b.Seq = r.u64("seq")
	b.Prev = r.hash("prev")
	kind := OpKind(r.u8("kind"))
	if r.err != nil {
		return nil, fmt.Errorf("decode block: %w", r.err)
	}
	switch kind {
	case KindSend:
		b.Op = &Send{To: r.acct("to"), Amount: r.amount("amount"), Fee: r.amount("fee")}
	case KindReceive:
		n := int(r.u16("source count"))
		if r.err == nil && (n == 0 || n > MaxReceiveSources) {
			return nil, fmt.Errorf("decode block: %d receive sources not in [1, %d]: %w", n, MaxReceiveSources, ErrMalformed)
		}
		op := &Receive{}
		for i := 0; i < n && r.err == nil; i++ {
			op.Sources = append(op.Sources, r.hash("source"))
		}
		b.Op = op
	case KindReward:
		op := &Reward{}
		op.Proof.read(r)
		op.Binding.read(r)
		op.Amount = r.amount("reward amount")
		b.Op = op
	case KindLaneOpen:
		b.Op = &LaneOpen{Payee: r.acct("payee"), Amount: r.amount("lane amount")}
	case KindLaneRedeem:
		op := &LaneRedeem{}
		op.Voucher.read(r)
		b.Op = op
	case KindLaneClose:
		b.Op = &LaneClose{Lane: r.hash("lane"), At: r.u64("close time")}
	case KindLaneSettle:
		b.Op = &LaneSettle{Lane: r.hash("lane"), Refund: r.amount("refund")}
	default:
		return nil, fmt.Errorf("decode block: unknown op kind %d: %w", kind, ErrMalformed)
	}
	b.Signer = r.acct("signer")
	b.Sig = r.sig("signature")
	if r.err != nil {
		return nil, fmt.Errorf("decode block: %w", r.err)
	}
	return b, nil
}
