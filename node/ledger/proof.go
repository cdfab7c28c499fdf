package ledger

import (
	"crypto/ed25519"
	"fmt"
)

const (
	proofDomain   = "borgios/ledger/proof/v1\x00"
	proofIDDomain = "borgios/ledger/proof-id/v1\x00"
	bindDomain    = "borgios/ledger/node-binding/v1\x00"
	voucherDomain = "borgios/ledger/voucher/v1\x00"
)

// ProofKind says what work a ServiceProof attests.
type ProofKind uint8

// The proof kinds; their numbers are part of the encoding.
const (
	// ProofStorage is a scrub auditor's statement that Node answered a
	// storage challenge for Bytes of content Expected in period Period.
	ProofStorage ProofKind = 1
	// ProofDelivery is a reader's receipt that Node delivered Bytes of
	// content Expected; Period is the reader's request number.
	ProofDelivery ProofKind = 2
)

// ServiceProof is a signed statement of verified work. The signer states
// both the hash it expected and the hash it observed, so the ledger itself
// refuses to pay for bytes that did not match, whatever the signer's
// software concluded.
//
// Layout: genesis [32] | kind u8 | node [32] | expected [32] |
// observed [32] | bytes u64 | period u64 | signer [32] | signature [64]
type ServiceProof struct {
	Genesis  Hash
	Kind     ProofKind
	Node     AccountID // the node key that did the work
	Expected Hash
	Observed Hash
	Bytes    uint64
	Period   uint64
	Signer   AccountID
	Sig      Signature
}

func (p *ServiceProof) appendUnsigned(w *writer) {
	w.hash(p.Genesis)
	w.u8(uint8(p.Kind))
	w.acct(p.Node)
	w.hash(p.Expected)
	w.hash(p.Observed)
	w.u64(p.Bytes)
	w.u64(p.Period)
	w.acct(p.Signer)
}

func (p *ServiceProof) encode(w *writer) { p.appendUnsigned(w); w.sig(p.Sig) }

func (p *ServiceProof) read(r *reader) {
	p.Genesis = r.hash("proof genesis")
	p.Kind = ProofKind(r.u8("proof kind"))
	p.Node = r.acct("proof node")
	p.Expected = r.hash("proof expected")
	p.Observed = r.hash("proof observed")
	p.Bytes = r.u64("proof bytes")
	p.Period = r.u64("proof period")
	p.Signer = r.acct("proof signer")
	p.Sig = r.sig("proof signature")
	if r.err == nil && p.Kind != ProofStorage && p.Kind != ProofDelivery {
		r.fail(fmt.Sprintf("proof kind %d", p.Kind))
	}
}

func (p *ServiceProof) digest() Hash {
	var w writer
	p.appendUnsigned(&w)
	return hashWith(proofDomain, w.b)
}

// Sign sets Signer and Sig.
func (p *ServiceProof) Sign(key ed25519.PrivateKey) {
	copy(p.Signer[:], key.Public().(ed25519.PublicKey))
	d := p.digest()
	copy(p.Sig[:], signMsg(key, d[:]))
}

// Verify checks the signer's signature.
func (p *ServiceProof) Verify() error {
	d := p.digest()
	if !verifySig(p.Signer[:], d[:], p.Sig[:]) {
		return fmt.Errorf("service proof: %w", ErrBadSignature)
	}
	return nil
}

// ID is the proof's payment identity. The ledger derives it from what the
// work was, never from anything the signer chooses freely: one storage
// proof per (node, content, period) whichever auditor signs it, one
// delivery receipt per (node, content, reader, request).
func (p *ServiceProof) ID() Hash {
	var w writer
	w.u8(uint8(p.Kind))
	w.acct(p.Node)
	w.hash(p.Expected)
	w.u64(p.Period)
	if p.Kind == ProofDelivery {
		w.acct(p.Signer)
	}
	return hashWith(proofIDDomain, p.Genesis[:], w.b)
}

// Earnings is what the proof pays under the genesis rates.
func (p *ServiceProof) Earnings(g *Genesis) (Amount, error) {
	if p.Bytes == 0 || p.Bytes > MaxProofBytes {
		return 0, fmt.Errorf("proof covers %d bytes, not in [1, %d]: %w", p.Bytes, uint64(MaxProofBytes), ErrOutOfBounds)
	}
	rate := g.Params.StorageRate
	if p.Kind == ProofDelivery {
		rate = g.Params.BandwidthRate
	}
	return mulDiv(p.Bytes, uint64(rate), gib)
}

// NodeBinding binds a node key to its owner's account. Both sign: the
// owner so its earnings may go there, the node so no owner can claim
// another operator's node and race it for its proofs.
//
// Layout: genesis [32] | node [32] | owner [32] | owner sig [64] | node sig [64]
type NodeBinding struct {
	Genesis  Hash
	Node     AccountID
	Owner    AccountID
	OwnerSig Signature
	NodeSig  Signature
}

func (b *NodeBinding) digest() Hash {
	return hashWith(bindDomain, b.Genesis[:], b.Node[:], b.Owner[:])
}

func (b *NodeBinding) encode(w *writer) {
	w.hash(b.Genesis)
	w.acct(b.Node)
	w.acct(b.Owner)
	w.sig(b.OwnerSig)
	w.sig(b.NodeSig)
}

func (b *NodeBinding) read(r *reader) {
	b.Genesis = r.hash("binding genesis")
	b.Node = r.acct("binding node")
	b.Owner = r.acct("binding owner")
	b.OwnerSig = r.sig("binding owner signature")
	b.NodeSig = r.sig("binding node signature")
}

// NewNodeBinding makes a binding signed by both keys.
func NewNodeBinding(g Hash, node, owner ed25519.PrivateKey) NodeBinding {
	b := NodeBinding{Genesis: g}
	copy(b.Node[:], node.Public().(ed25519.PublicKey))
	copy(b.Owner[:], owner.Public().(ed25519.PublicKey))
	d := b.digest()
	copy(b.OwnerSig[:], signMsg(owner, d[:]))
	copy(b.NodeSig[:], signMsg(node, d[:]))
	return b
}

// Verify checks both signatures.
func (b *NodeBinding) Verify() error {
	d := b.digest()
	if !verifySig(b.Owner[:], d[:], b.OwnerSig[:]) || !verifySig(b.Node[:], d[:], b.NodeSig[:]) {
		return fmt.Errorf("node binding: %w", ErrBadSignature)
	}
	return nil
}

// Voucher is the payer's promise on a lane: the payee may redeem up to
// Cumulative in total. Vouchers travel with each request, off the ledger;
// the payee keeps only the highest and redeems it when it likes.
//
// Layout: genesis [32] | lane [32] | nonce u64 | cumulative u64 | signature [64]
type Voucher struct {
	Genesis    Hash
	Lane       Hash
	Nonce      uint64
	Cumulative Amount
	Sig        Signature // by the lane's payer
}

func (v *Voucher) digest() Hash {
	var w writer
	w.hash(v.Lane)
	w.u64(v.Nonce)
	w.amount(v.Cumulative)
	return hashWith(voucherDomain, v.Genesis[:], w.b)
}

func (v *Voucher) encode(w *writer) {
	w.hash(v.Genesis)
	w.hash(v.Lane)
	w.u64(v.Nonce)
	w.amount(v.Cumulative)
	w.sig(v.Sig)
}

func (v *Voucher) read(r *reader) {
	v.Genesis = r.hash("voucher genesis")
	v.Lane = r.hash("voucher lane")
	v.Nonce = r.u64("voucher nonce")
	v.Cumulative = r.amount("voucher cumulative")
	v.Sig = r.sig("voucher signature")
}

// Encode returns the voucher's canonical bytes (what rides on a request).
func (v *Voucher) Encode() []byte {
	var w writer
	v.encode(&w)
	return w.b
}

// DecodeVoucher decodes canonical voucher bytes.
func DecodeVoucher(data []byte) (*Voucher, error) {
	r := reader{b: data}
	v := &Voucher{}
	v.read(&r)
	if err := r.done("voucher"); err != nil {
		return nil, err
	}
	return v, nil
}

// Sign signs the voucher with the payer's key.
func (v *Voucher) Sign(payer ed25519.PrivateKey) {
	d := v.digest()
	copy(v.Sig[:], signMsg(payer, d[:]))
}

// Verify checks the payer's signature.
func (v *Voucher) Verify(payer AccountID) error {
	d := v.digest()
	if !verifySig(payer[:], d[:], v.Sig[:]) {
		return fmt.Errorf("voucher: %w", ErrBadSignature)
	}
	return nil
}

// Encode returns the proof's canonical bytes (what an auditor or reader
// sends to the node that did the work).
func (p *ServiceProof) Encode() []byte {
	var w writer
	p.encode(&w)
	return w.b
}

// DecodeServiceProof decodes canonical proof bytes; it does not verify the
// signature (Verify does) nor the ledger's payment rules.
func DecodeServiceProof(data []byte) (*ServiceProof, error) {
	r := reader{b: data}
	p := &ServiceProof{}
	p.read(&r)
	if err := r.done("service proof"); err != nil {
		return nil, err
	}
	return p, nil
}
