package ledger

import (
	"crypto/ed25519"
	"fmt"
)

// NewBlock builds and signs a block: what a wallet does for each
// operation once it knows its account's head (Ledger.Head).
func NewBlock(g *Genesis, key ed25519.PrivateKey, seq uint64, prev Hash, op Op) *Block {
	b := &Block{Genesis: g.hash, Seq: seq, Prev: prev, Op: op}
	copy(b.Account[:], key.Public().(ed25519.PublicKey))
	b.Sign(key)
	return b
}

// PayerLane is the payer's side of an open lane: it issues vouchers with
// increasing nonces and cumulative amounts, one per request, without any
// ledger round trip.
type PayerLane struct {
	g          *Genesis
	key        ed25519.PrivateKey
	lane       Hash
	amount     Amount
	nonce      uint64
	cumulative Amount
}

// NewPayerLane starts issuing vouchers on the lane opened by the certified
// block with hash lane, which locked amount.
func NewPayerLane(g *Genesis, payer ed25519.PrivateKey, lane Hash, amount Amount) *PayerLane {
	return &PayerLane{g: g, key: payer, lane: lane, amount: amount}
}

// Pay returns a voucher worth price more than the previous one.
func (p *PayerLane) Pay(price Amount) (*Voucher, error) {
	c, err := p.cumulative.Add(price)
	if err != nil {
		return nil, err
	}
	if c > p.amount {
		return nil, fmt.Errorf("pay %s: %w", price, ErrVoucherExceedsLane)
	}
	p.nonce++
	p.cumulative = c
	v := &Voucher{Genesis: p.g.hash, Lane: p.lane, Nonce: p.nonce, Cumulative: c}
	v.Sign(p.key)
	return v, nil
}

// Cumulative is the total promised so far: what the payer may not take
// back when it settles.
func (p *PayerLane) Cumulative() Amount { return p.cumulative }

// VoucherBook is the payee's side: it checks each voucher that arrives
// with a request, tells how much it adds, and keeps the highest, which is
// the only one worth redeeming.
type VoucherBook struct {
	g     *Genesis
	lanes map[Hash]*bookLane
}

type bookLane struct {
	info LaneInfo
	best Voucher
}

// NewVoucherBook returns an empty book.
func NewVoucherBook(g *Genesis) *VoucherBook {
	return &VoucherBook{g: g, lanes: make(map[Hash]*bookLane)}
}

// Track starts accepting vouchers on a lane, as read from a certified
// ledger (Ledger.Lane).
func (vb *VoucherBook) Track(lane Hash, info LaneInfo) {
	if _, ok := vb.lanes[lane]; !ok {
		vb.lanes[lane] = &bookLane{info: info}
	}
}

// Accept checks a voucher and returns how much it pays beyond the best
// voucher so far. Replays (a nonce not above the best) are refused with
// ErrVoucherReplay, so a request cannot be paid twice with one voucher.
func (vb *VoucherBook) Accept(v *Voucher) (Amount, error) {
	if v.Genesis != vb.g.hash {
		return 0, fmt.Errorf("voucher: %w", ErrWrongNetwork)
	}
	bl, ok := vb.lanes[v.Lane]
	if !ok {
		return 0, fmt.Errorf("voucher lane %s: %w", v.Lane, ErrUnknownLane)
	}
	if bl.info.Settled {
		return 0, fmt.Errorf("voucher: %w", ErrLaneSettled)
	}
	if v.Nonce <= bl.best.Nonce {
		return 0, fmt.Errorf("voucher nonce %d, best %d: %w", v.Nonce, bl.best.Nonce, ErrVoucherReplay)
	}
	if v.Cumulative < bl.best.Cumulative {
		return 0, fmt.Errorf("voucher cumulative %s below %s: %w", v.Cumulative, bl.best.Cumulative, ErrVoucherNotIncreasing)
	}
	if v.Cumulative > bl.info.Amount {
		return 0, fmt.Errorf("voucher %s, lane %s: %w", v.Cumulative, bl.info.Amount, ErrVoucherExceedsLane)
	}
	if err := v.Verify(bl.info.Payer); err != nil {
		return 0, err
	}
	added := v.Cumulative - bl.best.Cumulative
	bl.best = *v
	return added, nil
}

// Best returns the highest voucher accepted on a lane.
func (vb *VoucherBook) Best(lane Hash) (Voucher, bool) {
	bl, ok := vb.lanes[lane]
	if !ok || bl.best.Nonce == 0 {
		return Voucher{}, false
	}
	return bl.best, true
}

// Lanes lists the lanes the book holds a voucher for.
func (vb *VoucherBook) Lanes() []Hash {
	var out []Hash
	for h, bl := range vb.lanes {
		if bl.best.Nonce > 0 {
			out = append(out, h)
		}
	}
	return out
}
