package ledger

import (
	"fmt"
)

const (
	voteDomain   = "borgios/ledger/vote/v1\x00"
	maxBlockSize = 1 << 16
)

// Vote is one witness's signature on a block hash: "this block is valid
// and the only one I will ever sign for its (account, sequence)". A witness
// signs a batch of votes at once: Sig covers the root of a Merkle tree over
// the batch's block hashes and Path leads from Block to that root (empty
// for a vote signed alone). Either way the statement is the same for every
// block in the batch, so safety is unchanged (DESIGN.md, "Batched votes").
type Vote struct {
	Witness uint16 // index into the genesis witness set
	Block   Hash
	Path    []Hash
	Sig     Signature
}

func voteDigest(g Hash, root Hash) Hash { return hashWith(voteDomain, g[:], root[:]) }

// VerifyVote checks a vote's signature against the genesis witness set.
// Signatures over a batch root are verified once per process (a cache of
// successful checks), not once per block.
func VerifyVote(g *Genesis, v Vote) error {
	return verifyWitnessSig(g, v.Witness, v.Block, v.Path, &v.Sig)
}

func verifyWitnessSig(g *Genesis, w uint16, block Hash, path []Hash, sig *Signature) error {
	if int(w) >= len(g.Witnesses) {
		return fmt.Errorf("vote by witness %d: %w", w, ErrUnknownWitness)
	}
	if len(path) > MaxVotePath {
		return fmt.Errorf("vote by witness %d: path of %d: %w", w, len(path), ErrMalformed)
	}
	d := voteDigest(g.hash, VoteRoot(block, path))
	if !g.verifyWitness(w, d, sig) {
		return fmt.Errorf("vote by witness %d: %w", w, ErrBadSignature)
	}
	return nil
}

// Encode returns the vote's bytes:
// witness u16 | block [32] | path length u8 | path [32]* | sig [64].
func (v Vote) Encode() []byte {
	w := writer{b: make([]byte, 0, 2+32+1+32*len(v.Path)+64)}
	w.u16(v.Witness)
	w.hash(v.Block)
	w.path(v.Path)
	w.sig(v.Sig)
	return w.b
}

// DecodeVote decodes a vote (signature not checked).
func DecodeVote(data []byte) (Vote, error) {
	r := reader{b: data}
	v := Vote{Witness: r.u16("witness"), Block: r.hash("block"), Path: r.path("vote path")}
	v.Sig = r.sig("signature")
	return v, r.done("vote")
}

// WitnessSig is one signature inside a certificate.
type WitnessSig struct {
	Witness uint16
	Path    []Hash // from the block to the root the witness signed
	Sig     Signature
}

// Certificate is a block with a quorum of witness signatures. A certified
// block is final: no other block can be certified for its (account, seq)
// unless more than f witnesses misbehave, and then their signatures prove it.
//
// Layout: block length u32 | block | count u8 |
// (witness u16 | path length u8 | path [32]* | sig [64])*
// with witness indices strictly ascending, so the encoding is canonical.
type Certificate struct {
	Block *Block
	Sigs  []WitnessSig

	hash Hash // cached Block.Hash()
	// raw is the encoding the certificate was decoded from, kept by
	// DecodeCertificateKeep so Encode need not rebuild it.
	raw []byte
}

// BlockHash is the certified block's hash.
func (c *Certificate) BlockHash() Hash {
	if c.hash.IsZero() {
		c.hash = c.Block.Hash()
	}
	return c.hash
}

// Encode returns the certificate's canonical bytes. For a certificate
// from DecodeCertificateKeep they are the bytes it was decoded from (the
// same bytes: the encoding is canonical), shared: callers must not modify
// them.
func (c *Certificate) Encode() []byte {
	if c.raw != nil {
		return c.raw
	}
	blk := c.Block.Encode()
	var w writer
	n := 4 + len(blk) + 1
	for _, s := range c.Sigs {
		n += 67 + 32*len(s.Path)
	}
	w.b = make([]byte, 0, n)
	w.u32(uint32(len(blk)))
	w.bytes(blk)
	w.u8(uint8(len(c.Sigs)))
	for _, s := range c.Sigs {
		w.u16(s.Witness)
		w.path(s.Path)
		w.sig(s.Sig)
	}
	return w.b
}

// DecodeCertificate decodes canonical certificate bytes. Signatures are
// checked by Verify, against a genesis.
func DecodeCertificate(data []byte) (*Certificate, error) {
	return decodeCertificate(data)
}

// DecodeCertificateKeep is DecodeCertificate for bytes the caller hands
// over (a fresh copy from the network decoder): the certificate keeps
// them as its encoding, so storing, serving and spreading it costs no
// re-encoding. Neither data nor the certificate may be modified after.
func DecodeCertificateKeep(data []byte) (*Certificate, error) {
	c, err := decodeCertificate(data)
	if err != nil {
		return nil, err
	}
	c.raw = data[:len(data):len(data)]
	return c, nil
}

// CertificateBlockHash returns the hash of the block inside encoded
// certificate bytes without decoding them, so a node can drop a
// certificate it already holds before paying for a decode. It checks
// only the framing; for bytes that are not a valid certificate it may
// return any hash (which then matches nothing a node holds, short of a
// SHA-256 preimage) or an error.
func CertificateBlockHash(data []byte) (Hash, error) {
	r := reader{b: data}
	n := r.u32("block length")
	if r.err == nil && (n > maxBlockSize || n < uint32(len(Signature{}))) {
		return Hash{}, fmt.Errorf("certificate: block of %d bytes: %w", n, ErrMalformed)
	}
	raw := r.take(int(n), "block")
	if r.err != nil {
		return Hash{}, fmt.Errorf("certificate: %w", r.err)
	}
	return hashEncoded(raw), nil
}

func decodeCertificate(data []byte) (*Certificate, error) {
	r := reader{b: data}
	n := r.u32("block length")
	if r.err == nil && n > maxBlockSize {
		return nil, fmt.Errorf("decode certificate: block of %d bytes: %w", n, ErrMalformed)
	}
	raw := r.take(int(n), "block")
	if r.err != nil {
		return nil, fmt.Errorf("decode certificate: %w", r.err)
	}
	b, err := DecodeBlock(raw)
	if err != nil {
		return nil, fmt.Errorf("decode certificate: %w", err)
	}
	// The block decoded, so raw is its canonical encoding and hashing it
	// gives Block.Hash without encoding the block again.
	c := &Certificate{Block: b, hash: hashEncoded(raw)}
	count := int(r.u8("signature count"))
	if r.err == nil && (count == 0 || count > MaxWitnesses) {
		return nil, fmt.Errorf("decode certificate: %d signatures: %w", count, ErrMalformed)
	}
	if r.err == nil {
		c.Sigs = make([]WitnessSig, 0, count)
	}
	for i := 0; i < count && r.err == nil; i++ {
		s := WitnessSig{Witness: r.u16("witness"), Path: r.path("witness path")}
		s.Sig = r.sig("witness signature")
		if r.err == nil && i > 0 && s.Witness <= c.Sigs[i-1].Witness {
			return nil, fmt.Errorf("decode certificate: witness indices not strictly ascending: %w", ErrNonCanonical)
		}
		c.Sigs = append(c.Sigs, s)
	}
	if err := r.done("certificate"); err != nil {
		return nil, err
	}
	return c, nil
}

// Verify checks that the block belongs to g's network and carries at least
// a quorum of valid signatures by distinct genesis witnesses. It does not
// re-check the ledger rules; Ledger.Add does. skip names a witness whose
// signature the caller already trusts (a witness checking a certificate
// for a block it voted for itself), or -1.
func (c *Certificate) Verify(g *Genesis, skip int) error {
	if c.Block.Genesis != g.hash {
		return fmt.Errorf("certificate: %w", ErrWrongNetwork)
	}
	h := c.BlockHash()
	valid := 0
	for i, s := range c.Sigs {
		if int(s.Witness) >= len(g.Witnesses) {
			return fmt.Errorf("certificate signature by witness %d: %w", s.Witness, ErrUnknownWitness)
		}
		if i > 0 && s.Witness <= c.Sigs[i-1].Witness {
			return fmt.Errorf("certificate: %w", ErrDuplicateWitness)
		}
		if valid >= g.q {
			// Signatures beyond the quorum add nothing; checking them
			// would only cost time on every node.
			continue
		}
		if int(s.Witness) == skip {
			valid++
			continue
		}
		if err := verifyWitnessSig(g, s.Witness, h, s.Path, &s.Sig); err != nil {
			return fmt.Errorf("certificate: %w", err)
		}
		valid++
	}
	if valid < g.q {
		return fmt.Errorf("certificate has %d of %d signatures: %w", valid, g.q, ErrInsufficientSignatures)
	}
	return nil
}

// CertBuilder collects votes for one block until they make a certificate.
type CertBuilder struct {
	g     *Genesis
	block *Block
	hash  Hash
	sigs  map[uint16]Vote
}

// NewCertBuilder starts collecting votes for b.
func NewCertBuilder(g *Genesis, b *Block) *CertBuilder {
	return &CertBuilder{g: g, block: b, hash: b.Hash(), sigs: make(map[uint16]Vote)}
}

// Add checks a vote and adds it. It returns the certificate once a quorum
// of distinct witnesses voted, nil before. A vote for another block is
// refused with ErrVoteForOtherBlock; keep it, with the block it names, as
// possible equivocation evidence.
func (cb *CertBuilder) Add(v Vote) (*Certificate, error) {
	if v.Block != cb.hash {
		return nil, fmt.Errorf("vote by witness %d: %w", v.Witness, ErrVoteForOtherBlock)
	}
	if _, dup := cb.sigs[v.Witness]; dup {
		return cb.cert(), nil
	}
	if err := VerifyVote(cb.g, v); err != nil {
		return nil, err
	}
	cb.sigs[v.Witness] = v
	return cb.cert(), nil
}

func (cb *CertBuilder) cert() *Certificate {
	if len(cb.sigs) < cb.g.q {
		return nil
	}
	c := &Certificate{Block: cb.block, hash: cb.hash}
	for i := range uint16(len(cb.g.Witnesses)) {
		if v, ok := cb.sigs[i]; ok {
			c.Sigs = append(c.Sigs, WitnessSig{Witness: i, Path: v.Path, Sig: v.Sig})
		}
	}
	return c
}

// Equivocation proves that one witness signed two different blocks for
// the same (account, sequence): anyone holding the genesis can check it,
// and the witness set's governance can remove the witness for it.
type Equivocation struct {
	Witness      uint16
	A, B         *Block
	PathA, PathB []Hash // inclusion paths of the batched votes
	SigA         Signature
	SigB         Signature
}

// Verify checks the evidence.
func (e *Equivocation) Verify(g *Genesis) error {
	if e.A == nil || e.B == nil {
		return fmt.Errorf("equivocation: missing block: %w", ErrNotEquivocation)
	}
	if e.A.Account != e.B.Account || e.A.Seq != e.B.Seq {
		return fmt.Errorf("equivocation: blocks for different slots: %w", ErrNotEquivocation)
	}
	ha, hb := e.A.Hash(), e.B.Hash()
	if ha == hb {
		return fmt.Errorf("equivocation: same block: %w", ErrNotEquivocation)
	}
	if err := VerifyVote(g, Vote{Witness: e.Witness, Block: ha, Path: e.PathA, Sig: e.SigA}); err != nil {
		return fmt.Errorf("equivocation, first vote: %w", err)
	}
	if err := VerifyVote(g, Vote{Witness: e.Witness, Block: hb, Path: e.PathB, Sig: e.SigB}); err != nil {
		return fmt.Errorf("equivocation, second vote: %w", err)
	}
	return nil
}

// Encode returns the evidence's bytes: witness u16 |
// (len u32 | block | path length u8 | path [32]* | sig [64]) for A, then B.
func (e *Equivocation) Encode() []byte {
	var w writer
	w.u16(e.Witness)
	for _, p := range []struct {
		b    *Block
		path []Hash
		s    Signature
	}{{e.A, e.PathA, e.SigA}, {e.B, e.PathB, e.SigB}} {
		raw := p.b.Encode()
		w.u32(uint32(len(raw)))
		w.bytes(raw)
		w.path(p.path)
		w.sig(p.s)
	}
	return w.b
}

// DecodeEquivocation decodes evidence (check it with Verify).
func DecodeEquivocation(data []byte) (*Equivocation, error) {
	r := reader{b: data}
	e := &Equivocation{Witness: r.u16("witness")}
	for i := 0; i < 2; i++ {
		n := r.u32("block length")
		if r.err == nil && n > maxBlockSize {
			return nil, fmt.Errorf("decode equivocation: block of %d bytes: %w", n, ErrMalformed)
		}
		raw := r.take(int(n), "block")
		if r.err != nil {
			return nil, fmt.Errorf("decode equivocation: %w", r.err)
		}
		b, err := DecodeBlock(raw)
		if err != nil {
			return nil, fmt.Errorf("decode equivocation: %w", err)
		}
		path := r.path("path")
		s := r.sig("signature")
		if i == 0 {
			e.A, e.PathA, e.SigA = b, path, s
		} else {
			e.B, e.PathB, e.SigB = b, path, s
		}
	}
	if err := r.done("equivocation"); err != nil {
		return nil, err
	}
	return e, nil
}

// FindEquivocations returns evidence against every witness that signed
// both of two conflicting certificates (same account and sequence,
// different blocks). Quorum intersection guarantees at least f+1 of them.
func FindEquivocations(g *Genesis, a, b *Certificate) []*Equivocation {
	if a.Block.Account != b.Block.Account || a.Block.Seq != b.Block.Seq || a.BlockHash() == b.BlockHash() {
		return nil
	}
	var out []*Equivocation
	for _, sa := range a.Sigs {
		for _, sb := range b.Sigs {
			if sa.Witness != sb.Witness {
				continue
			}
			e := &Equivocation{Witness: sa.Witness, A: a.Block, B: b.Block, PathA: sa.Path, PathB: sb.Path, SigA: sa.Sig, SigB: sb.Sig}
			if e.Verify(g) == nil {
				out = append(out, e)
			}
		}
	}
	return out
}

// decodeStoredCertificate reads a certificate from a witness's own store:
// the current layout, or the one before batched votes (no paths: block
// length u32 | block | count u8 | (witness u16 | sig [64])*), so a witness
// upgraded in place keeps its state. A legacy encoding never parses as the
// current one: per signature it is one byte shorter than the shortest
// current entry, so the lengths cannot add up.
func decodeStoredCertificate(data []byte) (*Certificate, error) {
	c, err := DecodeCertificate(data)
	if err == nil {
		return c, nil
	}
	r := reader{b: data}
	n := r.u32("block length")
	if r.err != nil || n > maxBlockSize {
		return nil, err
	}
	b, berr := DecodeBlock(r.take(int(n), "block"))
	if r.err != nil || berr != nil {
		return nil, err
	}
	legacy := &Certificate{Block: b}
	count := int(r.u8("signature count"))
	for i := 0; i < count && r.err == nil; i++ {
		legacy.Sigs = append(legacy.Sigs, WitnessSig{Witness: r.u16("witness"), Sig: r.sig("witness signature")})
	}
	if r.done("legacy certificate") != nil || count == 0 {
		return nil, err
	}
	return legacy, nil
}
