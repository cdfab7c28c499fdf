package ledger

import (
	"crypto/ed25519"
	"errors"
	"fmt"
)

// Store is where a witness keeps what it must not forget. SaveVotes must
// not return before the votes are on stable storage: a witness that signed
// and then forgot, across a crash, could sign a second block for the same
// slot, which is the one thing a witness must never do.
type Store interface {
	// SaveVotes durably records blocks the witness is about to sign.
	SaveVotes(blocks []*Block) error
	// SaveCertificates records certificates the witness accepted. They
	// can be fetched again from peers, so durability here is a matter of
	// restart speed, not of safety.
	SaveCertificates(certs []*Certificate) error
	// Load calls vote for every saved vote and cert for every saved
	// certificate, certificates first, each in the order saved.
	Load(cert func(*Certificate) error, vote func(*Block) error) error
}

// Witness is one member of the genesis witness set: it signs at most one
// block per (account, sequence), after checking it against the certified
// state, and records every vote durably before the signature leaves it.
// It is a pure state machine: time comes in as an argument and all I/O
// goes through Store. Not safe for concurrent use.
type Witness struct {
	g     *Genesis
	index uint16
	key   ed25519.PrivateKey
	led   *Ledger
	store Store

	// votes holds this witness's votes for slots not yet certified here.
	votes map[slot]Hash
	// Locks that follow from votes rather than from certificates: they
	// make a resource that one voted block uses unusable by any other
	// block, so quorum intersection keeps two certificates from both
	// using it.
	rewardVoted Amount          // total of voted rewards, bounded by RewardCap
	redeemVoted map[Hash]Amount // lane -> highest voted cumulative
	settleVoted map[Hash]bool   // lanes whose settle this witness voted

	failed error
}

// OpenWitness loads a witness's state from store. key must be one of the
// genesis witnesses.
func OpenWitness(g *Genesis, key ed25519.PrivateKey, store Store) (*Witness, error) {
	idx, ok := g.WitnessIndex(key.Public().(ed25519.PublicKey))
	if !ok {
		return nil, fmt.Errorf("open witness: %w", ErrUnknownWitness)
	}
	w := &Witness{
		g: g, index: uint16(idx), key: key, led: NewLedger(g), store: store,
		votes:       make(map[slot]Hash),
		redeemVoted: make(map[Hash]Amount),
		settleVoted: make(map[Hash]bool),
	}
	var voted []*Block
	err := store.Load(func(c *Certificate) error {
		// The witness checked these before saving them; its own disk is
		// trusted, so restarting costs no signature checks.
		if _, err := w.led.add(c, false); err != nil && !errors.Is(err, ErrConflictingCertificate) {
			return err
		}
		return nil
	}, func(b *Block) error {
		voted = append(voted, b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open witness: load: %w", err)
	}
	for _, b := range voted {
		w.lock(b, b.Hash())
	}
	return w, nil
}

// Index is the witness's position in the genesis witness set.
func (w *Witness) Index() uint16 { return w.index }

// Ledger is the witness's certified state (read-only for callers).
func (w *Witness) Ledger() *Ledger { return w.led }

// Vote checks b and returns this witness's signature on it. now is the
// network time in milliseconds.
func (w *Witness) Vote(b *Block, now uint64) (Vote, error) {
	vs, errs := w.VoteBatch([]*Block{b}, now)
	return vs[0], errs[0]
}

// maxVoteTree bounds one signed batch: paths of at most 12 hashes keep
// votes and certificates small while one signature still covers thousands.
const maxVoteTree = 1 << 12

// VoteBatch votes on several blocks with one durable write: the fsync is
// the dominant cost of a vote, so the runtime gathers the requests that
// arrive while the previous write is in progress (group commit). Blocks
// are judged in order; the result slices match blocks.
func (w *Witness) VoteBatch(blocks []*Block, now uint64) ([]Vote, []error) {
	_, votes, errs := w.Step(nil, blocks, now)
	return votes, errs
}

// BatchStore is a Store that can record certificates and votes in one
// durable write; a witness whose store is one pays one fsync per Step
// instead of two.
type BatchStore interface {
	Store
	// SaveBatch records both, durably, before it returns.
	SaveBatch(certs []*Certificate, votes []*Block) error
}

// Step confirms certs (as ConfirmBatch) and then votes on blocks (as
// VoteBatch, judged against the state those certificates made), with one
// store write for both when the store is a BatchStore. Every vote is on
// stable storage before the signature over the batch is computed. One
// block's refusal is reported in its own slot of errs and never affects
// the others; confirmErr joins the certificates that were refused.
func (w *Witness) Step(certs []*Certificate, blocks []*Block, now uint64) (confirmErr error, votes []Vote, errs []error) {
	keep, cerrs := w.confirm(certs)
	votes = make([]Vote, len(blocks))
	errs = make([]error, len(blocks))
	hashes := make([]Hash, len(blocks))
	var toSave []*Block
	for i, b := range blocks {
		h, fresh, err := w.admit(b, now)
		if err != nil {
			errs[i] = err
			continue
		}
		hashes[i] = h
		if fresh {
			toSave = append(toSave, b)
		}
	}
	if bs, ok := w.store.(BatchStore); ok && len(keep) > 0 && len(toSave) > 0 {
		if err := bs.SaveBatch(keep, toSave); err != nil {
			// The in-memory locks are already taken, so this witness
			// would refuse a different block now; but a vote it cannot
			// persist must not be signed, and a disk that fails once is
			// not trusted again.
			w.failed = fmt.Errorf("%w: %w", ErrWitnessFailed, err)
		}
	} else {
		if len(keep) > 0 {
			if err := w.store.SaveCertificates(keep); err != nil {
				cerrs = append(cerrs, fmt.Errorf("save certificates: %w", err))
			}
		}
		if len(toSave) > 0 {
			if err := w.store.SaveVotes(toSave); err != nil {
				w.failed = fmt.Errorf("%w: %w", ErrWitnessFailed, err)
			}
		}
	}
	confirmErr = errors.Join(cerrs...)
	// One signature over a Merkle root of every block voted in this batch:
	// signing is the other large per-vote cost after the fsync. The
	// votes were all persisted above, so the root commits only to blocks
	// this witness has durably locked.
	var ok []int
	var leaves []Hash
	for i := range blocks {
		if errs[i] != nil {
			continue
		}
		if w.failed != nil {
			errs[i] = w.failed
			continue
		}
		ok = append(ok, i)
		leaves = append(leaves, hashes[i])
	}
	for len(ok) > 0 {
		n := min(len(ok), maxVoteTree)
		root, paths := buildVoteTree(leaves[:n])
		d := voteDigest(w.g.hash, root)
		var sig Signature
		copy(sig[:], signMsg(w.key, d[:]))
		for k, i := range ok[:n] {
			votes[i] = Vote{Witness: w.index, Block: hashes[i], Path: paths[k], Sig: sig}
		}
		ok, leaves = ok[n:], leaves[n:]
	}
	return confirmErr, votes, errs
}

// admit runs every check and takes the locks for a new vote. fresh is
// false when the witness had already voted for this very block.
func (w *Witness) admit(b *Block, now uint64) (h Hash, fresh bool, err error) {
	if w.failed != nil {
		return h, false, w.failed
	}
	if b.Genesis != w.g.hash {
		return h, false, fmt.Errorf("vote: %w", ErrWrongNetwork)
	}
	h, err = b.verifySignature(w.led.keys)
	if err != nil {
		return h, false, err
	}
	s := slot{b.Account, b.Seq}
	if prev, ok := w.votes[s]; ok {
		if prev == h {
			return h, false, nil
		}
		return h, false, fmt.Errorf("account %s seq %d: %w", b.Account.Short(), b.Seq, ErrConflictingVote)
	}
	if certified, ok := w.led.slots[s]; ok {
		if certified == h {
			// Already final; signing the same block again is harmless
			// and lets a client that lost votes complete a certificate.
			return h, false, nil
		}
		return h, false, fmt.Errorf("account %s seq %d already certified: %w", b.Account.Short(), b.Seq, ErrWrongSequence)
	}
	if err := w.led.check(b); err != nil {
		return h, false, err
	}
	if err := w.checkLocks(b, now); err != nil {
		return h, false, err
	}
	w.lock(b, h)
	return h, true, nil
}

// checkLocks applies the rules that depend on this witness's own votes
// and clock, which the deterministic Ledger.Check cannot see.
func (w *Witness) checkLocks(b *Block, now uint64) error {
	p := &w.g.Params
	switch op := b.Op.(type) {
	case *Reward:
		total, err := w.rewardVoted.Add(op.Amount)
		if err != nil || total > w.g.RewardCap() {
			return fmt.Errorf("reward: voted total would exceed %s: %w", w.g.RewardCap(), ErrTreasuryExhausted)
		}
	case *LaneRedeem:
		if w.settleVoted[op.Voucher.Lane] || w.led.lanes[op.Voucher.Lane].Settled {
			return fmt.Errorf("redeem: %w", ErrLaneSettled)
		}
	case *LaneClose:
		if op.At+p.MaxClockSkewMs < now || op.At > now+p.MaxClockSkewMs {
			return fmt.Errorf("close at %d, witness time %d: %w", op.At, now, ErrBadTimestamp)
		}
	case *LaneSettle:
		ln := w.led.lanes[op.Lane]
		// The skew margin means no honest witness settles while another,
		// whose clock is behind, still counts the window as open.
		if end := ln.CloseAt + p.DisputeWindowMs + p.MaxClockSkewMs; now < end {
			return fmt.Errorf("settle: window ends at %d, now %d: %w", end, now, ErrDisputeWindowOpen)
		}
		redeemed := max(ln.Redeemed, w.redeemVoted[op.Lane])
		if op.Refund > ln.Amount-redeemed {
			return fmt.Errorf("settle: refund %s, unredeemed %s: %w", op.Refund, ln.Amount-redeemed, ErrRefundTooLarge)
		}
	}
	return nil
}

// lock records a vote in memory. It runs for new votes and, on restart,
// for every vote in the store.
func (w *Witness) lock(b *Block, h Hash) {
	if next, _ := w.led.Head(b.Account); b.Seq >= next {
		w.votes[slot{b.Account, b.Seq}] = h
	}
	switch op := b.Op.(type) {
	case *Reward:
		w.rewardVoted += op.Amount
	case *LaneRedeem:
		w.redeemVoted[op.Voucher.Lane] = max(w.redeemVoted[op.Voucher.Lane], op.Voucher.Cumulative)
	case *LaneSettle:
		w.settleVoted[op.Lane] = true
	}
}

// Confirm verifies a certificate and applies it to the witness's state
// (buffering it if its predecessors are missing).
func (w *Witness) Confirm(c *Certificate) error {
	return w.ConfirmBatch([]*Certificate{c})
}

// ConfirmBatch confirms several certificates with one store write.
// Certificates that fail verification are skipped and reported, the others
// are applied.
func (w *Witness) ConfirmBatch(certs []*Certificate) error {
	err, _, _ := w.Step(certs, nil, 0)
	return err
}

// confirm verifies and applies certificates in memory and returns those
// to save.
func (w *Witness) confirm(certs []*Certificate) (keep []*Certificate, errs []error) {
	for _, c := range certs {
		h := c.BlockHash()
		s := slot{c.Block.Account, c.Block.Seq}
		if w.led.slots[s] == h {
			continue
		}
		// For a block it voted for, the witness already checked the
		// owner's signature and trusts its own; the others it checks.
		mine := w.votes[s] == h
		skip := -1
		if mine {
			skip = int(w.index)
		}
		if err := c.Verify(w.g, skip); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := w.led.add(c, !mine); err != nil {
			// A conflicting or rule-breaking certificate means more than
			// f witnesses misbehaved; it is reported, never applied.
			errs = append(errs, err)
			continue
		}
		keep = append(keep, c)
		w.pruneVotes(c.Block.Account)
	}
	return keep, errs
}

// pruneVotes forgets in-memory votes for slots that are now certified:
// the certified state refuses them anyway, and the store keeps them.
func (w *Witness) pruneVotes(a AccountID) {
	next, _ := w.led.Head(a)
	for s := next; s > 0; s-- {
		k := slot{a, s - 1}
		if _, ok := w.votes[k]; !ok {
			break
		}
		delete(w.votes, k)
	}
}
