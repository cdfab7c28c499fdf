package ledgercell

import (
	"errors"
	"testing"

	"github.com/borgios/borgios/node/ledger"
)

// TestLanesOverCells: a user funds a lane to a node, pays per request with
// vouchers (no ledger round trip), the node refuses a replayed voucher,
// redeems the highest, and when the payer closes the lane while the node
// holds a better voucher than it redeemed (a stale close), the node
// disputes it inside the window; the payer settles after the window and
// gets back exactly what was not redeemed. Conservation holds on every node.
func TestLanesOverCells(t *testing.T) {
	t.Cleanup(func() { clockOffset.Store(0) }) // runs after the net stops
	n := newTestNet(t, 1, 1)
	payee := n.nodes[numWitnesses]
	node := payee.c
	payer := n.client(0)
	ctx := ctxT(t)

	lane, open, err := payer.OpenLane(ctx, node.me, shells(10))
	if err != nil {
		t.Fatal(err)
	}
	var first *ledger.Voucher
	for i := range 3 {
		v, err := lane.Pay(shells(1))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = v
		}
		added, err := payer.PayVoucher(ctx, payee.target(), v)
		if err != nil || added != shells(1) {
			t.Fatalf("voucher %d: added %s, %v", i, added, err)
		}
	}
	if _, err := payer.PayVoucher(ctx, payee.target(), first); !errors.Is(err, ledger.ErrVoucherReplay) {
		t.Fatalf("replayed voucher: %v", err)
	}
	forged := *first
	forged.Nonce, forged.Cumulative = 99, shells(9)
	if _, err := payer.PayVoucher(ctx, payee.target(), &forged); !errors.Is(err, ledger.ErrBadSignature) {
		t.Fatalf("forged voucher: %v", err)
	}
	if _, err := payer.Pay(ctx, payee.target(), lane, shells(8)); !errors.Is(err, ledger.ErrVoucherExceedsLane) {
		t.Fatalf("voucher beyond the lane: %v", err)
	}

	// The payee redeems the highest voucher (3).
	ct, err := node.Redeem(ctx, open.BlockHash())
	if err != nil || ct == nil {
		t.Fatalf("redeem: %v", err)
	}
	if again, err := node.Redeem(ctx, open.BlockHash()); again != nil || err != nil {
		t.Fatalf("nothing left to redeem, got %v %v", again, err)
	}
	for range 2 {
		if _, err := payer.Pay(ctx, payee.target(), lane, shells(1)); err != nil {
			t.Fatal(err)
		}
	}

	// A stale close: the ledger says 3 redeemed, the node holds 5.
	if _, err := payer.CloseLane(ctx, open.BlockHash()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the close to reach the payee", func() bool {
		var closed bool
		node.View(func(l *ledger.Ledger) { ln, _ := l.Lane(open.BlockHash()); closed = ln.Closed })
		return closed
	})
	if _, err := payer.Pay(ctx, payee.target(), lane, shells(1)); !errors.Is(err, ledger.ErrLaneClosed) {
		t.Fatalf("voucher on a closed lane: %v", err)
	}
	waitFor(t, "the dispute", func() bool {
		var r ledger.Amount
		node.View(func(l *ledger.Ledger) { ln, _ := l.Lane(open.BlockHash()); r = ln.Redeemed })
		return r == shells(5)
	})
	if _, err := payer.SettleLane(ctx, open.BlockHash(), shells(5)); !errors.Is(err, ledger.ErrDisputeWindowOpen) {
		t.Fatalf("settle inside the window: %v", err)
	}
	// Certify returns once a quorum is out of reach; a witness that had
	// not answered yet must judge the early settle before the clock
	// moves, or it would vote it after the window and the next settle
	// would find (and finish) that block at its slot.
	waitFor(t, "every witness to judge the early settle", payer.idle)

	// Let the window (and the clock skew margin) pass.
	clockOffset.Add(int64(n.g.Params.DisputeWindowMs + n.g.Params.MaxClockSkewMs + 1000))
	st, err := payer.Lane(ctx, open.BlockHash())
	if err != nil || st.Redeemed != uint64(shells(5)) {
		t.Fatalf("lane: %+v %v", st, err)
	}
	if _, err := payer.SettleLane(ctx, open.BlockHash(), shells(6)); !errors.Is(err, ledger.ErrRefundTooLarge) {
		t.Fatalf("refund above the unredeemed part: %v", err)
	}
	waitFor(t, "the settle", func() bool {
		_, err := payer.SettleLane(ctx, open.BlockHash(), ledger.Amount(st.Amount-st.Redeemed))
		if err != nil {
			t.Logf("settle: %v", err)
		}
		return err == nil
	})
	info, err := payer.Balance(ctx, payer.Account())
	if err != nil || info.Balance != userFunds-shells(5) {
		t.Fatalf("payer balance %s, want %s (%v)", info.Balance, userFunds-shells(5), err)
	}
	n.settle()
	node.View(func(l *ledger.Ledger) {
		if b := l.Balance(node.me); b != shells(5) {
			t.Fatalf("payee balance %s", b)
		}
	})
	if s := node.Status(); s.Disputes != 1 || s.Redeems != 2 {
		t.Fatalf("status %+v", s)
	}
}
