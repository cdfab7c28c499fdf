package ledger

import (
	"crypto/ed25519"
	"errors"
	"testing"
)

func storageProof(g *Genesis, signer, node ed25519.PrivateKey, content Hash, bytes, period uint64) ServiceProof {
	p := ServiceProof{Genesis: g.Hash(), Kind: ProofStorage, Node: idOf(node), Expected: content, Observed: content, Bytes: bytes, Period: period}
	p.Sign(signer)
	return p
}

func TestRewardsForVerifiedWorkOnly(t *testing.T) {
	n := newTestNet(t, 3)
	alice, bob, carol := testKey("user", 0), testKey("user", 1), testKey("user", 2)
	node, auditor := testKey("node", 0), testKey("auditor", 0)
	bind := NewNodeBinding(n.g.Hash(), node, alice)
	// Rewards are claimed on the node's own chain and paid to its owner.
	reward := func(_ ed25519.PrivateKey, p ServiceProof, b NodeBinding) *Block {
		amt, _ := p.Earnings(n.g)
		return n.block(node, &Reward{Proof: p, Binding: b, Amount: amt})
	}
	content := Hash{1, 2, 3}

	p1 := storageProof(n.g, auditor, node, content, 10*gib, 1)
	payout := n.mustCertify(reward(alice, p1, bind))
	n.receive(alice, payout)
	earned := 10 * n.g.Params.StorageRate
	if got := n.obs.Balance(idOf(alice)); got != userFunds+earned {
		t.Fatalf("alice %s, want %s", got, userFunds+earned)
	}
	if n.obs.Treasury() != n.g.TreasuryStart()-earned || !n.obs.Paid(p1.ID()) {
		t.Fatal("treasury not debited")
	}

	// Paid twice: the same proof again, a re-signed copy of it, or the
	// same work claimed through a second owner the node also bound to.
	n.refused(reward(alice, p1, bind), ErrProofAlreadyPaid)
	n.refused(reward(alice, storageProof(n.g, auditor, node, content, 9*gib, 1), bind), ErrProofAlreadyPaid)
	n.refused(reward(bob, p1, NewNodeBinding(n.g.Hash(), node, bob)), ErrProofAlreadyPaid)

	// Bytes whose hash did not match earn nothing.
	bad := ServiceProof{Genesis: n.g.Hash(), Kind: ProofStorage, Node: idOf(node), Expected: content, Observed: Hash{9}, Bytes: gib, Period: 2}
	bad.Sign(auditor)
	n.refused(reward(alice, bad, bind), ErrHashMismatch)

	n.refused(reward(alice, storageProof(n.g, carol, node, content, gib, 3), bind), ErrUnknownAuditor)
	n.refused(n.block(alice, &Reward{Proof: p1, Binding: bind, Amount: earned}), ErrBadBinding)
	otherNode := NewNodeBinding(n.g.Hash(), testKey("node", 1), alice)
	n.refused(reward(alice, storageProof(n.g, auditor, node, content, gib, 3), otherNode), ErrBadBinding)
	halfBound := bind
	halfBound.NodeSig = Signature{}
	n.refused(reward(alice, storageProof(n.g, auditor, node, content, gib, 3), halfBound), ErrBadSignature)
	tampered := storageProof(n.g, auditor, node, content, gib, 3)
	tampered.Bytes = 100 * gib
	n.refused(reward(alice, tampered, bind), ErrBadSignature)
	p3 := storageProof(n.g, auditor, node, content, gib, 3)
	n.refused(n.block(node, &Reward{Proof: p3, Binding: bind, Amount: 5 * MicroPerShell}), ErrWrongReward)
	n.refused(reward(alice, storageProof(n.g, auditor, node, content, MaxProofBytes+1, 3), bind), ErrOutOfBounds)

	// Bandwidth: a receipt signed by the reader pays; one the earner
	// signs itself does not.
	receipt := func(reader ed25519.PrivateKey, req uint64) ServiceProof {
		p := ServiceProof{Genesis: n.g.Hash(), Kind: ProofDelivery, Node: idOf(node), Expected: content, Observed: content, Bytes: 4 * gib, Period: req}
		p.Sign(reader)
		return p
	}
	n.mustCertify(reward(alice, receipt(carol, 1), bind))
	n.refused(reward(alice, receipt(carol, 1), bind), ErrProofAlreadyPaid)
	n.refused(reward(alice, receipt(alice, 2), bind), ErrSelfReceipt)
	n.refused(reward(alice, receipt(node, 2), bind), ErrSelfReceipt)

	// The receipt's payout stays in flight until alice's chain credits it.
	if got := n.obs.Balance(idOf(alice)); got != userFunds+earned {
		t.Fatalf("alice %s", got)
	}
	if n.obs.InFlight() != 4*n.g.Params.BandwidthRate {
		t.Fatalf("in flight %s", n.obs.InFlight())
	}
}

// Witnesses cap the rewards they vote for so that, without any total
// order between reward claims, the treasury can never be overdrawn.
func TestRewardsCappedByTreasury(t *testing.T) {
	var wits []ed25519.PublicKey
	for i := range numWitness {
		wits = append(wits, testKey("witness", i).Public().(ed25519.PublicKey))
	}
	p := DefaultParams()
	p.StorageRate = MaxStorageRate
	alice := testKey("user", 0)
	g, err := NewGenesis("borgios-test", wits, []ed25519.PublicKey{testKey("auditor", 0).Public().(ed25519.PublicKey)}, p,
		[]Allocation{{Account: idOf(alice), Amount: TotalSupply - 1000*MicroPerShell}})
	if err != nil {
		t.Fatal(err)
	}
	if g.RewardCap() != 500*MicroPerShell {
		t.Fatalf("cap %s", g.RewardCap())
	}
	n := newTestNetGenesis(t, g)
	node := testKey("node", 0)
	bind := NewNodeBinding(g.Hash(), node, alice)
	claim := func(period uint64) *Block {
		pr := storageProof(g, testKey("auditor", 0), node, Hash{1}, 30*gib, period)
		return n.block(node, &Reward{Proof: pr, Binding: bind, Amount: 300 * MicroPerShell})
	}
	n.mustCertify(claim(1))
	n.refused(claim(2), ErrTreasuryExhausted)
}

func TestLanesAndVouchers(t *testing.T) {
	n := newTestNet(t, 3)
	payer, payee, other := testKey("user", 0), testKey("user", 1), testKey("user", 2)
	window := n.g.Params.DisputeWindowMs
	open := n.mustCertify(n.block(payer, &LaneOpen{Payee: idOf(payee), Amount: 100 * MicroPerShell}))
	lane := open.BlockHash()
	if n.obs.Locked() != 100*MicroPerShell {
		t.Fatalf("locked %s", n.obs.Locked())
	}
	info, _ := n.obs.Lane(lane)
	pl := NewPayerLane(n.g, payer, lane, info.Amount)
	book := NewVoucherBook(n.g)
	book.Track(lane, info)

	// One voucher per request, checked off the ledger.
	var vs []*Voucher
	for i := 0; i < 10; i++ {
		v, err := pl.Pay(1 * MicroPerShell)
		if err != nil {
			t.Fatal(err)
		}
		wireV, err := DecodeVoucher(v.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if added, err := book.Accept(wireV); err != nil || added != MicroPerShell {
			t.Fatalf("voucher %d: %s %v", i, added, err)
		}
		vs = append(vs, v)
	}
	if _, err := book.Accept(vs[9]); !errors.Is(err, ErrVoucherReplay) {
		t.Fatalf("replayed voucher: %v", err)
	}
	if _, err := book.Accept(vs[3]); !errors.Is(err, ErrVoucherReplay) {
		t.Fatalf("stale voucher: %v", err)
	}
	if _, err := pl.Pay(1000 * MicroPerShell); !errors.Is(err, ErrVoucherExceedsLane) {
		t.Fatalf("overspend: %v", err)
	}
	forgedV := *vs[9]
	forgedV.Nonce, forgedV.Cumulative = 99, 50*MicroPerShell
	if _, err := book.Accept(&forgedV); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged voucher: %v", err)
	}
	if best, ok := book.Best(lane); !ok || best.Nonce != 10 {
		t.Fatalf("best voucher %+v", best)
	}

	redeem := func(v *Voucher) *Block { return n.block(payee, &LaneRedeem{Voucher: *v}) }
	n.mustCertify(redeem(vs[4]))
	n.refused(redeem(vs[4]), ErrVoucherReplay)
	n.refused(redeem(vs[2]), ErrVoucherReplay)
	n.refused(n.block(other, &LaneRedeem{Voucher: *vs[9]}), ErrNotLanePayee)
	n.refused(redeem(&forgedV), ErrBadSignature)
	big := &Voucher{Genesis: n.g.Hash(), Lane: lane, Nonce: 50, Cumulative: 101 * MicroPerShell}
	big.Sign(payer)
	n.refused(redeem(big), ErrVoucherExceedsLane)
	unknown := &Voucher{Genesis: n.g.Hash(), Lane: Hash{42}, Nonce: 1, Cumulative: 1}
	unknown.Sign(payer)
	n.refused(redeem(unknown), ErrUnknownLane)
	if got := n.obs.Balance(idOf(payee)); got != userFunds+5*MicroPerShell {
		t.Fatalf("payee %s", got)
	}

	// The payer closes with only 5 redeemed: a stale close.
	n.refused(n.block(payer, &LaneClose{Lane: lane, At: n.now - 10*n.g.Params.MaxClockSkewMs}), ErrBadTimestamp)
	n.refused(n.block(other, &LaneClose{Lane: lane, At: n.now}), ErrNotLanePayer)
	n.refused(n.block(payer, &LaneClose{Lane: Hash{42}, At: n.now}), ErrUnknownLane)
	n.mustCertify(n.block(payer, &LaneClose{Lane: lane, At: n.now}))
	n.refused(n.block(payer, &LaneClose{Lane: lane, At: n.now}), ErrLaneClosed)
	n.refused(n.block(payer, &LaneSettle{Lane: lane, Refund: 95 * MicroPerShell}), ErrDisputeWindowOpen)

	// The payee disputes within the window with its best voucher.
	n.now += window / 2
	n.mustCertify(redeem(vs[9]))
	n.now += window / 2
	n.refused(n.block(payer, &LaneSettle{Lane: lane, Refund: 90 * MicroPerShell}), ErrDisputeWindowOpen)
	n.now += n.g.Params.MaxClockSkewMs
	n.refused(n.block(payer, &LaneSettle{Lane: lane, Refund: 95 * MicroPerShell}), ErrRefundTooLarge)
	n.mustCertify(n.block(payer, &LaneSettle{Lane: lane, Refund: 90 * MicroPerShell}))
	n.refused(n.block(payer, &LaneSettle{Lane: lane, Refund: 0}), ErrLaneSettled)

	late, err := pl.Pay(1 * MicroPerShell)
	if err != nil {
		t.Fatal(err)
	}
	n.refused(redeem(late), ErrLaneSettled)
	if got := n.obs.Balance(idOf(payee)); got != userFunds+10*MicroPerShell {
		t.Fatalf("payee %s", got)
	}
	if got := n.obs.Balance(idOf(payer)); got != userFunds-10*MicroPerShell {
		t.Fatalf("payer %s", got)
	}
	if n.obs.Locked() != 0 {
		t.Fatalf("locked %s after settle", n.obs.Locked())
	}
}

// The quorum argument for lanes: a redeem certified by one quorum and a
// settle certified by another apply in either order to the same state,
// and a verifier refuses a pair that would overdraw the lane.
func TestLaneRedeemAndSettleCommute(t *testing.T) {
	n := newMemNet(t, 2)
	payer, payee := testKey("user", 0), testKey("user", 1)
	open := n.mustCertify(n.block(payer, &LaneOpen{Payee: idOf(payee), Amount: 10 * MicroPerShell}))
	lane := open.BlockHash()
	pl := NewPayerLane(n.g, payer, lane, 10*MicroPerShell)
	v, _ := pl.Pay(4 * MicroPerShell)
	n.mustCertify(n.block(payer, &LaneClose{Lane: lane, At: n.now}))
	n.now += n.g.Params.DisputeWindowMs + n.g.Params.MaxClockSkewMs
	redeem := n.mustCertify(n.block(payee, &LaneRedeem{Voucher: *v}))
	settle := n.mustCertify(n.block(payer, &LaneSettle{Lane: lane, Refund: 6 * MicroPerShell}))
	all := n.obs.Certificates(0)
	for _, order := range [][]*Certificate{{redeem, settle}, {settle, redeem}} {
		l := NewLedger(n.g)
		for _, c := range all[:2] {
			if _, err := l.Add(c); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range order {
			if _, err := l.Add(c); err != nil {
				t.Fatal(err)
			}
		}
		if l.Balance(idOf(payee)) != n.obs.Balance(idOf(payee)) || l.Locked() != 0 {
			t.Fatal("order changed the result")
		}
		if err := l.CheckConservation(); err != nil {
			t.Fatal(err)
		}
	}
}
