package ledgercell

import (
	"context"
	"fmt"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/wire"
)

// Payment lanes over the network. The payer locks funds on the ledger
// (Client.OpenLane), then pays per request with a signed voucher that rides
// on the request itself (Client.Pay here, or any cell's request carrying
// voucher bytes that its handler gives to Cell.AcceptVoucher): no ledger
// round trip per payment. The payee node keeps the best voucher per lane
// and redeems it on its own chain (Cell.Redeem); when it sees the payer
// close a lane it still holds a better voucher for, it redeems at once,
// inside the dispute window (the dispute). After the window the payer
// settles and gets back what was not redeemed.

// KindPay is the receptor kind that takes a voucher for a lane paying
// this node, on its own (a tip, a prepayment).
const (
	KindPay  = "pay"  // payRequest -> payAnswer
	KindLane = "lane" // hashRequest -> LaneState
)

type payRequest struct {
	Voucher []byte `cbor:"1,keyasint"`
}

type payAnswer struct {
	Added uint64 `cbor:"1,keyasint,omitempty"` // micro-shells this voucher added
	Code  string `cbor:"2,keyasint,omitempty"`
	Msg   string `cbor:"3,keyasint,omitempty"`
}

// LaneState is a lane as a node's certified state holds it.
type LaneState struct {
	Payer    []byte `cbor:"1,keyasint" json:"payer"`
	Payee    []byte `cbor:"2,keyasint" json:"payee"`
	Amount   uint64 `cbor:"3,keyasint" json:"amount"`
	Redeemed uint64 `cbor:"4,keyasint" json:"redeemed"`
	Nonce    uint64 `cbor:"5,keyasint" json:"nonce"`
	Closed   bool   `cbor:"6,keyasint,omitempty" json:"closed,omitempty"`
	CloseAt  uint64 `cbor:"7,keyasint,omitempty" json:"close_at,omitempty"`
	Settled  bool   `cbor:"8,keyasint,omitempty" json:"settled,omitempty"`
	Refund   uint64 `cbor:"9,keyasint,omitempty" json:"refund,omitempty"`
}

// AcceptVoucher checks a voucher for a lane that pays this node and returns
// how much it adds to the best one so far: what the request carrying it
// has paid. Replays and vouchers that do not grow are refused
// (ledger.ErrVoucherReplay, ErrVoucherNotIncreasing), as are vouchers on
// lanes this node does not know yet (ledger.ErrUnknownLane: push the
// lane's open certificate with a confirm and retry), lanes paying someone
// else (ErrNotLanePayee) and closed lanes (ErrLaneClosed).
func (c *Cell) AcceptVoucher(raw []byte) (ledger.Amount, error) {
	v, err := ledger.DecodeVoucher(raw)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	info, ok := c.led.Lane(v.Lane)
	switch {
	case !ok:
		return 0, fmt.Errorf("voucher lane %s: %w", v.Lane, ledger.ErrUnknownLane)
	case info.Payee != c.me:
		return 0, fmt.Errorf("voucher: %w", ledger.ErrNotLanePayee)
	case info.Settled:
		return 0, fmt.Errorf("voucher: %w", ledger.ErrLaneSettled)
	case info.Closed:
		// A closing lane may settle once the window ends: service paid
		// by a voucher now could go unpaid.
		return 0, fmt.Errorf("voucher: %w", ledger.ErrLaneClosed)
	}
	// The certified redeems bound what a voucher can add even when the
	// book is younger than the lane (after a restart).
	if v.Nonce <= info.Nonce {
		return 0, fmt.Errorf("voucher nonce %d, redeemed %d: %w", v.Nonce, info.Nonce, ledger.ErrVoucherReplay)
	}
	if v.Cumulative <= info.Redeemed {
		return 0, fmt.Errorf("voucher %s, redeemed %s: %w", v.Cumulative, info.Redeemed, ledger.ErrVoucherNotIncreasing)
	}
	c.book.Track(v.Lane, info)
	added, err := c.book.Accept(v)
	if err != nil {
		return 0, err
	}
	c.stats.vouchers.Add(1)
	return min(added, v.Cumulative-info.Redeemed), nil
}

// Redeem redeems the best voucher this node holds for lane, if it is worth
// more than what was redeemed already; it returns nil and no error when
// there is nothing to redeem.
func (c *Cell) Redeem(ctx context.Context, lane ledger.Hash) (*ledger.Certificate, error) {
	if c.submit == nil {
		return nil, fmt.Errorf("redeem: %w", ErrNoWitnesses)
	}
	c.mu.Lock()
	best, ok := c.book.Best(lane)
	info, known := c.led.Lane(lane)
	c.mu.Unlock()
	if !ok || !known || best.Cumulative <= info.Redeemed || info.Settled {
		return nil, nil
	}
	ct, err := c.submit.Append(ctx, &ledger.LaneRedeem{Voucher: best})
	if err != nil {
		return nil, fmt.Errorf("redeem lane %s: %w", lane, err)
	}
	c.stats.redeems.Add(1)
	// Know it here at once, not when the broadcast comes round: the next
	// redeem must build on it.
	c.ingest(ctx, []*ledger.Certificate{ct})
	return ct, nil
}

// RedeemAll redeems the best voucher of every lane that has one worth
// redeeming.
func (c *Cell) RedeemAll(ctx context.Context) ([]*ledger.Certificate, error) {
	c.mu.Lock()
	lanes := c.book.Lanes()
	c.mu.Unlock()
	var out []*ledger.Certificate
	for _, l := range lanes {
		ct, err := c.Redeem(ctx, l)
		if err != nil {
			return out, err
		}
		if ct != nil {
			out = append(out, ct)
		}
	}
	return out, nil
}

// laneLoop disputes closes: when a lane this node holds vouchers for is
// closed, it redeems the best one while the window is open, retrying for
// as long as the window lasts.
func (c *Cell) laneLoop() {
	for {
		var lane ledger.Hash
		select {
		case <-c.ctx.Done():
			return
		case lane = <-c.disputes:
		}
		c.stats.disputes.Add(1)
		for try := 0; ; try++ {
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.CallTimeout)
			_, err := c.Redeem(ctx, lane)
			cancel()
			if err == nil {
				break
			}
			c.mu.Lock()
			info, _ := c.led.Lane(lane)
			c.mu.Unlock()
			end := info.CloseAt + c.g.Params.DisputeWindowMs
			if now := c.cfg.Host.Now(); now < 0 || uint64(now) >= end {
				c.log.Error("dispute: window ended before the redeem was certified", "lane", lane, "err", err)
				break
			}
			c.log.Warn("dispute: redeem failed, retrying", "lane", lane, "err", err)
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(time.Duration(min(try+1, 30)) * time.Second):
			}
		}
	}
}

func (c *Cell) handlePay(_ context.Context, req *cell.Request) ([]byte, error) {
	var q payRequest
	if err := wire.Unmarshal(req.Env.Payload, &q); err != nil {
		return nil, badRequest(KindPay, err)
	}
	added, err := c.AcceptVoucher(q.Voucher)
	if err != nil {
		return marshal(payAnswer{Code: reasonOf(err), Msg: err.Error()})
	}
	return marshal(payAnswer{Added: uint64(added)})
}

func (c *Cell) handleLane(_ context.Context, req *cell.Request) ([]byte, error) {
	var q hashRequest
	if err := wire.Unmarshal(req.Env.Payload, &q); err != nil {
		return nil, badRequest(KindLane, err)
	}
	h, err := hashOf(q.Hash)
	if err != nil {
		return nil, badRequest(KindLane, err)
	}
	c.mu.Lock()
	ln, ok := c.led.Lane(h)
	c.mu.Unlock()
	if !ok {
		return nil, cell.Errorf(cell.CodeNotFound, "lane: no lane %s here", h)
	}
	return marshal(LaneState{Payer: ln.Payer[:], Payee: ln.Payee[:], Amount: uint64(ln.Amount), Redeemed: uint64(ln.Redeemed),
		Nonce: ln.Nonce, Closed: ln.Closed, CloseAt: ln.CloseAt, Settled: ln.Settled, Refund: uint64(ln.Refund)})
}

// OpenLane locks amount in a lane paying payee and returns the payer's
// side, which issues vouchers, with the open block's certificate (its hash
// is the lane's ID).
func (c *Client) OpenLane(ctx context.Context, payee ledger.AccountID, amount ledger.Amount) (*ledger.PayerLane, *ledger.Certificate, error) {
	ct, err := c.Append(ctx, &ledger.LaneOpen{Payee: payee, Amount: amount})
	if err != nil {
		return nil, nil, err
	}
	return ledger.NewPayerLane(c.g, c.cfg.Key, ct.BlockHash(), amount), ct, nil
}

// Pay issues the lane's next voucher, price more than the last, and hands
// it to the payee node at t. It returns what the node credited.
func (c *Client) Pay(ctx context.Context, t cell.Target, lane *ledger.PayerLane, price ledger.Amount) (ledger.Amount, error) {
	v, err := lane.Pay(price)
	if err != nil {
		return 0, err
	}
	return c.PayVoucher(ctx, t, v)
}

// PayVoucher hands a voucher to the payee node at t. If the node does not
// know the lane yet, the lane's open certificate is pushed to it first.
func (c *Client) PayVoucher(ctx context.Context, t cell.Target, v *ledger.Voucher) (ledger.Amount, error) {
	payload, err := marshal(payRequest{Voucher: v.Encode()})
	if err != nil {
		return 0, err
	}
	for try := 0; ; try++ {
		cctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		raw, err := c.cfg.Caller.Call(cctx, t, DNA, KindPay, payload)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("pay at %s: %w", t.Addr, err)
		}
		var a payAnswer
		if err := wire.Unmarshal(raw, &a); err != nil {
			return 0, fmt.Errorf("pay answer from %s: %w", t.Addr, err)
		}
		if a.Code == "" {
			return ledger.Amount(a.Added), nil
		}
		err = fmt.Errorf("pay at %s: %s", t.Addr, a.Msg)
		if se := reasonErr(a.Code); se != nil {
			err = fmt.Errorf("%w: %w", err, se)
		}
		if try > 0 || a.Code != "unknown-lane" {
			return 0, err
		}
		open, cerr := c.Certificate(ctx, v.Lane)
		if cerr != nil {
			return 0, fmt.Errorf("%w (and its open certificate: %w)", err, cerr)
		}
		if _, cerr := c.pipe(t).confirm(ctx, [][]byte{open.Encode()}, false); cerr != nil {
			return 0, fmt.Errorf("%w (pushing its open certificate: %w)", err, cerr)
		}
	}
}

// Lane returns a lane's state as a peer reports it.
func (c *Client) Lane(ctx context.Context, lane ledger.Hash) (LaneState, error) {
	raw, t, err := c.query(ctx, KindLane, hashRequest{Hash: lane[:]})
	if err != nil {
		return LaneState{}, err
	}
	var s LaneState
	if err := wire.Unmarshal(raw, &s); err != nil {
		return LaneState{}, fmt.Errorf("lane from %s: %w", t.Addr, err)
	}
	return s, nil
}

// CloseLane starts the lane's dispute window now (network time).
func (c *Client) CloseLane(ctx context.Context, lane ledger.Hash) (*ledger.Certificate, error) {
	return c.Append(ctx, &ledger.LaneClose{Lane: lane, At: uint64(max(c.cfg.Caller.Now(), 0))})
}

// SettleLane ends a closed lane after its window and takes refund back;
// refund may not exceed what the payee has not redeemed (witnesses check
// it against every redeem they voted).
func (c *Client) SettleLane(ctx context.Context, lane ledger.Hash, refund ledger.Amount) (*ledger.Certificate, error) {
	return c.Append(ctx, &ledger.LaneSettle{Lane: lane, Refund: refund})
}
