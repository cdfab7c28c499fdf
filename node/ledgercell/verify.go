package ledgercell

import (
	"fmt"

	"github.com/borgios/borgios/node/ledger"
)

// AccountState is an account's state as computed from its chain.
type AccountState struct {
	Account ledger.AccountID
	Balance ledger.Amount
	Next    uint64      // sequence of the next block
	Head    ledger.Hash // hash of block Next-1; zero for an empty chain
	// Earned is the part of Balance's credits that the treasury paid for
	// nodes' verified work (rewards this account received as owner).
	Earned ledger.Amount
}

// verifyCert checks a certificate's quorum and its owner's signature.
func verifyCert(g *ledger.Genesis, ct *ledger.Certificate) error {
	if err := ct.Verify(g, -1); err != nil {
		return fmt.Errorf("%w: %w", ErrBadChain, err)
	}
	if err := ct.Block.VerifySignature(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadChain, err)
	}
	return nil
}

// creditTo is the account a certified send or reward pays, or the zero
// account for other blocks.
func creditTo(b *ledger.Block) ledger.AccountID {
	switch op := b.Op.(type) {
	case *ledger.Send:
		return op.To
	case *ledger.Reward:
		return op.Binding.Owner
	}
	return ledger.AccountID{}
}

// VerifyAccount recomputes acct's balance from its chain (certificates for
// sequences 0, 1, ... in order) and the certificates of the sends its
// receive blocks credit, checking every quorum, every owner signature and
// every link. It trusts nothing but the genesis: a quorum of witnesses
// checked each block's rules when they certified it, so a light client
// needs only the amounts. What it cannot know from one chain is whether
// the chain it was shown is complete; a node can hide the newest blocks,
// never forge or alter one.
func VerifyAccount(g *ledger.Genesis, acct ledger.AccountID, chain []*ledger.Certificate, sources map[ledger.Hash]*ledger.Certificate) (AccountState, error) {
	st := AccountState{Account: acct}
	for _, a := range g.Allocations {
		if a.Account == acct {
			st.Balance = a.Amount
		}
	}
	credited := map[ledger.Hash]bool{}
	redeemed := map[ledger.Hash]ledger.Amount{}
	bad := func(seq uint64, format string, args ...any) (AccountState, error) {
		return AccountState{}, fmt.Errorf("account %s seq %d: %s: %w", acct.Short(), seq, fmt.Sprintf(format, args...), ErrBadChain)
	}
	for i, ct := range chain {
		b := ct.Block
		seq := uint64(i)
		if b.Account != acct || b.Seq != seq || b.Prev != st.Head {
			return bad(seq, "block out of place (account %s, seq %d)", b.Account.Short(), b.Seq)
		}
		if err := verifyCert(g, ct); err != nil {
			return AccountState{}, fmt.Errorf("account %s seq %d: %w", acct.Short(), seq, err)
		}
		var err error
		switch op := b.Op.(type) {
		case *ledger.Send:
			var total ledger.Amount
			if total, err = op.Amount.Add(op.Fee); err == nil {
				st.Balance, err = st.Balance.Sub(total)
			}
		case *ledger.Receive:
			for _, h := range op.Sources {
				src, ok := sources[h]
				if !ok {
					return bad(seq, "source %s not provided", h)
				}
				if src.BlockHash() != h || credited[h] {
					return bad(seq, "source %s wrong or credited twice", h)
				}
				if err := verifyCert(g, src); err != nil {
					return AccountState{}, fmt.Errorf("account %s seq %d source %s: %w", acct.Short(), seq, h, err)
				}
				var amt ledger.Amount
				switch sop := src.Block.Op.(type) {
				case *ledger.Send:
					amt = sop.Amount
				case *ledger.Reward:
					amt = sop.Amount
				}
				if creditTo(src.Block) != acct {
					return bad(seq, "source %s pays another account", h)
				}
				if _, ok := src.Block.Op.(*ledger.Reward); ok {
					if st.Earned, err = st.Earned.Add(amt); err != nil {
						break
					}
				}
				credited[h] = true
				if st.Balance, err = st.Balance.Add(amt); err != nil {
					break
				}
			}
		case *ledger.LaneOpen:
			st.Balance, err = st.Balance.Sub(op.Amount)
		case *ledger.LaneRedeem:
			// Every redeem of a lane sits on its payee's chain, this one,
			// so the part not redeemed before is known here.
			lane := op.Voucher.Lane
			if op.Voucher.Cumulative < redeemed[lane] {
				return bad(seq, "redeem below an earlier one")
			}
			st.Balance, err = st.Balance.Add(op.Voucher.Cumulative - redeemed[lane])
			redeemed[lane] = op.Voucher.Cumulative
		case *ledger.LaneSettle:
			st.Balance, err = st.Balance.Add(op.Refund)
		case *ledger.Reward, *ledger.LaneClose:
			// A reward pays the node's owner through a receive; a close
			// moves nothing.
		}
		if err != nil {
			return bad(seq, "%v", err)
		}
		st.Head = ct.BlockHash()
		st.Next = seq + 1
	}
	return st, nil
}
