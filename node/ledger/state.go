package ledger

import (
	"errors"
	"fmt"
)

// slot is one place in one account's chain; at most one block is ever
// certified for it.
type slot struct {
	acct AccountID
	seq  uint64
}

type account struct {
	next    uint64 // sequence number of the next block
	head    Hash   // hash of block next-1, zero before the first block
	balance Amount
}

// SendInfo describes a certified send, or a reward payout (From is then
// Treasury): an amount in flight to To until To's chain credits it.
type SendInfo struct {
	From, To AccountID
	Amount   Amount
	Credited bool
}

// LaneInfo describes a payment lane.
type LaneInfo struct {
	Payer, Payee AccountID
	Amount       Amount // locked at open
	Redeemed     Amount // cumulative amount the payee has redeemed
	Nonce        uint64 // nonce of the last redeemed voucher
	Closed       bool
	CloseAt      uint64 // network ms of the close; the window runs from here
	Settled      bool
	Refund       Amount
}

// Ledger is the certified state of a network: every account's chain head
// and balance, in-flight sends, lanes and paid proofs, computed only from
// certificates. It is what a witness validates against, what any node uses
// to verify a balance, and what a new node fills while catching up:
// certificates may arrive in any order; each is verified and held back
// until the blocks it depends on are applied.
//
// A Ledger is not safe for concurrent use; the cell runtime owns it.
type Ledger struct {
	g        *Genesis
	accounts map[AccountID]*account
	sends    map[Hash]*SendInfo
	lanes    map[Hash]*LaneInfo
	paid     map[Hash]bool
	treasury Amount
	inFlight Amount // certified sends not yet credited
	locked   Amount // lane funds neither redeemed nor refunded

	certs   map[Hash]*Certificate
	slots   map[slot]Hash
	order   []Hash
	pending map[slot]*Certificate
	waiting map[Hash][]slot

	// keys caches expanded owner keys for this ledger's signature checks
	// (and its witness's): precomputation, never outcomes.
	keys *keyCache
}

// NewLedger returns the state at genesis.
func NewLedger(g *Genesis) *Ledger {
	l := &Ledger{
		g:        g,
		accounts: make(map[AccountID]*account, len(g.Allocations)),
		sends:    make(map[Hash]*SendInfo),
		lanes:    make(map[Hash]*LaneInfo),
		paid:     make(map[Hash]bool),
		treasury: g.treasury,
		certs:    make(map[Hash]*Certificate),
		slots:    make(map[slot]Hash),
		pending:  make(map[slot]*Certificate),
		waiting:  make(map[Hash][]slot),
		keys:     newKeyCache(keyCacheSize),
	}
	for _, a := range g.Allocations {
		l.accounts[a.Account] = &account{balance: a.Amount}
	}
	return l
}

// Genesis returns the ledger's genesis.
func (l *Ledger) Genesis() *Genesis { return l.g }

// Balance is the account's spendable balance.
func (l *Ledger) Balance(a AccountID) Amount {
	if a == Treasury {
		return l.treasury
	}
	if acc := l.accounts[a]; acc != nil {
		return acc.balance
	}
	return 0
}

// Head returns the sequence number the account's next block must carry
// and the hash it must name as previous.
func (l *Ledger) Head(a AccountID) (next uint64, prev Hash) {
	if acc := l.accounts[a]; acc != nil {
		return acc.next, acc.head
	}
	return 0, Hash{}
}

// Send returns a certified send by block hash.
func (l *Ledger) Send(h Hash) (SendInfo, bool) {
	s, ok := l.sends[h]
	if !ok {
		return SendInfo{}, false
	}
	return *s, true
}

// Lane returns a lane by ID (the hash of its open block).
func (l *Ledger) Lane(id Hash) (LaneInfo, bool) {
	ln, ok := l.lanes[id]
	if !ok {
		return LaneInfo{}, false
	}
	return *ln, true
}

// Paid reports whether the proof ID has been rewarded.
func (l *Ledger) Paid(id Hash) bool { return l.paid[id] }

// Treasury is what the treasury holds now.
func (l *Ledger) Treasury() Amount { return l.treasury }

// InFlight is the total of certified sends not yet credited.
func (l *Ledger) InFlight() Amount { return l.inFlight }

// Locked is the total held in lanes.
func (l *Ledger) Locked() Amount { return l.locked }

// Pending is how many received certificates wait for their dependencies.
func (l *Ledger) Pending() int { return len(l.pending) }

// Len is how many certificates have been applied.
func (l *Ledger) Len() int { return len(l.order) }

// Certificate returns an applied certificate by block hash.
func (l *Ledger) Certificate(h Hash) (*Certificate, bool) {
	c, ok := l.certs[h]
	return c, ok
}

// Certificates returns applied certificates from position from on, in an
// order in which a fresh Ledger can apply them without buffering: what a
// node serves to a peer catching up.
func (l *Ledger) Certificates(from int) []*Certificate {
	if from < 0 || from >= len(l.order) {
		return nil
	}
	out := make([]*Certificate, 0, len(l.order)-from)
	for _, h := range l.order[from:] {
		out = append(out, l.certs[h])
	}
	return out
}

// Supply adds up every shell: balances, treasury, in flight and locked in
// lanes. It equals TotalSupply after any sequence of certificates; an error
// means the arithmetic overflowed, which only a bug can cause.
func (l *Ledger) Supply() (Amount, error) {
	total, err := l.treasury.Add(l.inFlight)
	if err == nil {
		total, err = total.Add(l.locked)
	}
	for _, a := range l.accounts {
		if err != nil {
			break
		}
		total, err = total.Add(a.balance)
	}
	return total, err
}

// CheckConservation returns an error unless Supply equals TotalSupply.
func (l *Ledger) CheckConservation() error {
	s, err := l.Supply()
	if err != nil {
		return fmt.Errorf("conservation: %w", err)
	}
	if s != TotalSupply {
		return fmt.Errorf("conservation: supply %s, want %s", s, TotalSupply)
	}
	return nil
}

// Add verifies a certificate completely (quorum signatures, the owner's
// signature, every ledger rule) and applies it, together with any buffered
// certificates it unblocks. A certificate whose predecessor or sources are
// not applied yet is buffered, not refused. It returns how many
// certificates were applied.
func (l *Ledger) Add(c *Certificate) (int, error) {
	if err := c.Verify(l.g, -1); err != nil {
		return 0, err
	}
	return l.add(c, true)
}

// add applies or buffers an already quorum-checked certificate.
func (l *Ledger) add(c *Certificate, ownerSig bool) (int, error) {
	h := c.BlockHash()
	s := slot{c.Block.Account, c.Block.Seq}
	if old, ok := l.slots[s]; ok {
		if old == h {
			return 0, nil
		}
		return 0, fmt.Errorf("account %s seq %d: %w", s.acct.Short(), s.seq, ErrConflictingCertificate)
	}
	if p, ok := l.pending[s]; ok {
		if p.BlockHash() == h {
			return 0, nil
		}
		return 0, fmt.Errorf("account %s seq %d: %w", s.acct.Short(), s.seq, ErrConflictingCertificate)
	}
	if ownerSig {
		if _, err := c.Block.verifySignature(l.keys); err != nil {
			return 0, err
		}
	}
	if dep, missing := l.missingDep(c.Block); missing {
		l.pending[s] = c
		l.waiting[dep] = append(l.waiting[dep], s)
		return 0, nil
	}
	if err := l.apply(c); err != nil {
		return 0, err
	}
	n, err := l.drain(h)
	return 1 + n, err
}

// Conflicting returns the applied or pending certificate for the same slot
// as c if it certifies a different block: with c, evidence for
// FindEquivocations.
func (l *Ledger) Conflicting(c *Certificate) (*Certificate, bool) {
	s := slot{c.Block.Account, c.Block.Seq}
	if h, ok := l.slots[s]; ok && h != c.BlockHash() {
		return l.certs[h], true
	}
	if p, ok := l.pending[s]; ok && p.BlockHash() != c.BlockHash() {
		return p, true
	}
	return nil, false
}

// drain applies buffered certificates unblocked by the block hash h.
func (l *Ledger) drain(h Hash) (int, error) {
	n := 0
	var errs []error
	work := []Hash{h}
	for len(work) > 0 {
		h := work[len(work)-1]
		work = work[:len(work)-1]
		blocked := l.waiting[h]
		delete(l.waiting, h)
		for _, s := range blocked {
			c, ok := l.pending[s]
			if !ok {
				continue
			}
			if dep, missing := l.missingDep(c.Block); missing {
				l.waiting[dep] = append(l.waiting[dep], s)
				continue
			}
			delete(l.pending, s)
			if err := l.apply(c); err != nil {
				errs = append(errs, err)
				continue
			}
			n++
			work = append(work, c.BlockHash())
		}
	}
	return n, errors.Join(errs...)
}

// missingDep names a block b needs that is not applied yet.
func (l *Ledger) missingDep(b *Block) (Hash, bool) {
	if b.Seq > 0 {
		if _, ok := l.certs[b.Prev]; !ok {
			return b.Prev, true
		}
	}
	switch op := b.Op.(type) {
	case *Receive:
		for _, src := range op.Sources {
			if _, ok := l.certs[src]; !ok {
				return src, true
			}
		}
	case *LaneRedeem:
		if _, ok := l.certs[op.Voucher.Lane]; !ok {
			return op.Voucher.Lane, true
		}
	}
	return Hash{}, false
}

func (l *Ledger) apply(c *Certificate) error {
	b := c.Block
	if err := l.check(b); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCertifiedBlock, err)
	}
	h := c.BlockHash()
	acc := l.account(b.Account)
	switch op := b.Op.(type) {
	case *Send:
		total, _ := op.Amount.Add(op.Fee)
		acc.balance -= total
		l.treasury += op.Fee
		l.inFlight += op.Amount
		l.sends[h] = &SendInfo{From: b.Account, To: op.To, Amount: op.Amount}
	case *Receive:
		for _, src := range op.Sources {
			s := l.sends[src]
			s.Credited = true
			l.inFlight -= s.Amount
			acc.balance += s.Amount
		}
	case *Reward:
		l.treasury -= op.Amount
		l.inFlight += op.Amount
		l.paid[op.Proof.ID()] = true
		l.sends[h] = &SendInfo{From: Treasury, To: op.Binding.Owner, Amount: op.Amount}
	case *LaneOpen:
		acc.balance -= op.Amount
		l.locked += op.Amount
		l.lanes[h] = &LaneInfo{Payer: b.Account, Payee: op.Payee, Amount: op.Amount}
	case *LaneRedeem:
		ln := l.lanes[op.Voucher.Lane]
		delta := op.Voucher.Cumulative - ln.Redeemed
		ln.Redeemed, ln.Nonce = op.Voucher.Cumulative, op.Voucher.Nonce
		l.locked -= delta
		acc.balance += delta
	case *LaneClose:
		ln := l.lanes[op.Lane]
		ln.Closed, ln.CloseAt = true, op.At
	case *LaneSettle:
		ln := l.lanes[op.Lane]
		ln.Settled, ln.Refund = true, op.Refund
		l.locked -= op.Refund
		acc.balance += op.Refund
	}
	acc.next++
	acc.head = h
	l.certs[h] = c
	l.slots[slot{b.Account, b.Seq}] = h
	l.order = append(l.order, h)
	return nil
}

func (l *Ledger) account(a AccountID) *account {
	acc := l.accounts[a]
	if acc == nil {
		acc = &account{}
		l.accounts[a] = acc
	}
	return acc
}

// Check validates b against the certified state without applying it: the
// network, the chain position and the operation's rules. It does not check
// the owner's signature (VerifySignature does) nor the witness-only rules
// that depend on a witness's own votes and clock.
func (l *Ledger) Check(b *Block) error { return l.check(b) }

func (l *Ledger) check(b *Block) error {
	if b.Genesis != l.g.hash {
		return fmt.Errorf("block: %w", ErrWrongNetwork)
	}
	if b.Account == Treasury {
		return fmt.Errorf("block: %w", ErrTreasuryAccount)
	}
	next, head := l.Head(b.Account)
	switch {
	case b.Seq < next:
		return fmt.Errorf("account %s: seq %d, next is %d: %w", b.Account.Short(), b.Seq, next, ErrWrongSequence)
	case b.Seq > next:
		return fmt.Errorf("account %s: seq %d, next is %d: %w", b.Account.Short(), b.Seq, next, ErrMissingPredecessor)
	case b.Prev != head:
		return fmt.Errorf("account %s seq %d: %w", b.Account.Short(), b.Seq, ErrWrongPrevious)
	}
	bal := l.Balance(b.Account)
	switch op := b.Op.(type) {
	case *Send:
		if op.To == Treasury {
			return fmt.Errorf("send: %w", ErrTreasuryAccount)
		}
		if op.To == b.Account {
			return fmt.Errorf("send: %w", ErrSelfTransfer)
		}
		if op.Amount == 0 {
			return fmt.Errorf("send: %w", ErrZeroAmount)
		}
		if op.Fee != l.g.Params.TransferFee {
			return fmt.Errorf("send: fee %s, genesis says %s: %w", op.Fee, l.g.Params.TransferFee, ErrWrongFee)
		}
		total, err := op.Amount.Add(op.Fee)
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
		if _, err := bal.Sub(total); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	case *Receive:
		if len(op.Sources) == 0 || len(op.Sources) > MaxReceiveSources {
			return fmt.Errorf("receive: %d sources: %w", len(op.Sources), ErrMalformed)
		}
		seen := make(map[Hash]bool, len(op.Sources))
		for _, src := range op.Sources {
			if seen[src] {
				return fmt.Errorf("receive: %w", ErrDuplicateSource)
			}
			seen[src] = true
			s, ok := l.sends[src]
			if !ok {
				if _, isBlock := l.certs[src]; isBlock {
					return fmt.Errorf("receive %s: %w", src, ErrNotASend)
				}
				return fmt.Errorf("receive %s: %w", src, ErrSourceNotCertified)
			}
			if s.To != b.Account {
				return fmt.Errorf("receive %s: %w", src, ErrNotRecipient)
			}
			if s.Credited {
				return fmt.Errorf("receive %s: %w", src, ErrAlreadyCredited)
			}
		}
	case *Reward:
		return l.checkReward(b, op)
	case *LaneOpen:
		if op.Payee == Treasury {
			return fmt.Errorf("lane open: %w", ErrTreasuryAccount)
		}
		if op.Payee == b.Account {
			return fmt.Errorf("lane open: %w", ErrSelfTransfer)
		}
		if op.Amount == 0 {
			return fmt.Errorf("lane open: %w", ErrZeroAmount)
		}
		if _, err := bal.Sub(op.Amount); err != nil {
			return fmt.Errorf("lane open: %w", err)
		}
	case *LaneRedeem:
		v := &op.Voucher
		if v.Genesis != l.g.hash {
			return fmt.Errorf("voucher: %w", ErrWrongNetwork)
		}
		ln, ok := l.lanes[v.Lane]
		if !ok {
			return fmt.Errorf("redeem lane %s: %w", v.Lane, ErrUnknownLane)
		}
		if ln.Payee != b.Account {
			return fmt.Errorf("redeem: %w", ErrNotLanePayee)
		}
		if err := v.Verify(ln.Payer); err != nil {
			return fmt.Errorf("redeem: %w", err)
		}
		if v.Nonce <= ln.Nonce {
			return fmt.Errorf("redeem: nonce %d, last %d: %w", v.Nonce, ln.Nonce, ErrVoucherReplay)
		}
		if v.Cumulative <= ln.Redeemed {
			return fmt.Errorf("redeem: cumulative %s, redeemed %s: %w", v.Cumulative, ln.Redeemed, ErrVoucherNotIncreasing)
		}
		if v.Cumulative > ln.Amount {
			return fmt.Errorf("redeem: cumulative %s, lane holds %s: %w", v.Cumulative, ln.Amount, ErrVoucherExceedsLane)
		}
		// A redeem may be certified after the settle when both were
		// voted in that order by different quorums; what must hold in
		// every order is redeemed + refund <= amount.
		if v.Cumulative > ln.Amount-ln.Refund {
			return fmt.Errorf("redeem after refund %s: %w: %w", ln.Refund, ErrLaneSettled, ErrLaneOverdrawn)
		}
	case *LaneClose:
		ln, ok := l.lanes[op.Lane]
		if !ok {
			return fmt.Errorf("close lane %s: %w", op.Lane, ErrUnknownLane)
		}
		if ln.Payer != b.Account {
			return fmt.Errorf("close: %w", ErrNotLanePayer)
		}
		if ln.Closed {
			return fmt.Errorf("close: %w", ErrLaneClosed)
		}
	case *LaneSettle:
		ln, ok := l.lanes[op.Lane]
		if !ok {
			return fmt.Errorf("settle lane %s: %w", op.Lane, ErrUnknownLane)
		}
		if ln.Payer != b.Account {
			return fmt.Errorf("settle: %w", ErrNotLanePayer)
		}
		if !ln.Closed {
			return fmt.Errorf("settle: %w", ErrLaneNotClosed)
		}
		if ln.Settled {
			return fmt.Errorf("settle: %w", ErrLaneSettled)
		}
		if op.Refund > ln.Amount-ln.Redeemed {
			return fmt.Errorf("settle: refund %s, unredeemed %s: %w", op.Refund, ln.Amount-ln.Redeemed, ErrRefundTooLarge)
		}
	default:
		return fmt.Errorf("block: op %T: %w", b.Op, ErrMalformed)
	}
	return nil
}

func (l *Ledger) checkReward(b *Block, op *Reward) error {
	p, bind := &op.Proof, &op.Binding
	if p.Genesis != l.g.hash || bind.Genesis != l.g.hash {
		return fmt.Errorf("reward: %w", ErrWrongNetwork)
	}
	if bind.Node != b.Account || p.Node != b.Account || bind.Owner == Treasury {
		return fmt.Errorf("reward: %w", ErrBadBinding)
	}
	if err := bind.Verify(); err != nil {
		return fmt.Errorf("reward: %w", err)
	}
	if err := p.Verify(); err != nil {
		return fmt.Errorf("reward: %w", err)
	}
	switch p.Kind {
	case ProofStorage:
		if !l.g.IsAuditor(p.Signer) {
			return fmt.Errorf("reward: %w", ErrUnknownAuditor)
		}
	case ProofDelivery:
		if p.Signer == bind.Owner || p.Signer == p.Node {
			return fmt.Errorf("reward: %w", ErrSelfReceipt)
		}
	default:
		return fmt.Errorf("reward: proof kind %d: %w", p.Kind, ErrMalformed)
	}
	if p.Expected != p.Observed {
		return fmt.Errorf("reward: %w", ErrHashMismatch)
	}
	earned, err := p.Earnings(l.g)
	if err != nil {
		return fmt.Errorf("reward: %w", err)
	}
	if earned == 0 {
		return fmt.Errorf("reward: proof earns nothing: %w", ErrZeroAmount)
	}
	if op.Amount != earned {
		return fmt.Errorf("reward: claims %s, proof earns %s: %w", op.Amount, earned, ErrWrongReward)
	}
	if l.paid[p.ID()] {
		return fmt.Errorf("reward: proof %s: %w", p.ID(), ErrProofAlreadyPaid)
	}
	if _, err := l.treasury.Sub(op.Amount); err != nil {
		return fmt.Errorf("reward: %w: %w", ErrTreasuryExhausted, err)
	}
	return nil
}
