package ledger

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"math"
	"testing"
)

func TestAmountParseAndArithmetic(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Amount
		err  error
	}{
		{"0", 0, nil},
		{"1", MicroPerShell, nil},
		{"0.5", 500_000, nil},
		{"12.000001", 12_000_001, nil},
		{"20000000", TotalSupply, nil},
		{"-1", 0, ErrNegativeAmount},
		{"-0.5", 0, ErrNegativeAmount},
		{"20000000.000001", 0, ErrAmountOverflow},
		{"99999999999999999999999", 0, ErrAmountOverflow},
		{"1.0000001", 0, ErrBadAmount},
		{"1e6", 0, ErrBadAmount},
		{"1.", 0, ErrBadAmount},
		{".5", 0, ErrBadAmount},
		{"", 0, ErrBadAmount},
		{"+1", 0, ErrBadAmount},
	} {
		got, err := ParseAmount(c.in)
		if !errors.Is(err, c.err) || (c.err == nil && got != c.want) {
			t.Errorf("ParseAmount(%q) = %v, %v; want %v, %v", c.in, got, err, c.want, c.err)
		}
		if c.err == nil {
			back, err := ParseAmount(got.String())
			if err != nil || back != got {
				t.Errorf("round trip of %q: %v %v", c.in, back, err)
			}
		}
	}
	if _, err := Amount(math.MaxUint64).Add(1); !errors.Is(err, ErrAmountOverflow) {
		t.Errorf("MaxUint64+1: %v", err)
	}
	if _, err := TotalSupply.Add(1); !errors.Is(err, ErrAmountOverflow) {
		t.Errorf("supply+1: %v", err)
	}
	if _, err := Amount(1).Sub(2); !errors.Is(err, ErrInsufficientFunds) {
		t.Errorf("1-2: %v", err)
	}
}

func TestGenesisFileRoundTripAndBounds(t *testing.T) {
	g := testGenesis(t, 3, DefaultParams())
	if g.F() != 1 || g.Quorum() != 3 {
		t.Fatalf("f=%d q=%d, want 1 and 3", g.F(), g.Quorum())
	}
	if g.TreasuryStart() != TotalSupply-3*userFunds {
		t.Fatalf("treasury %s", g.TreasuryStart())
	}
	js, err := g.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	g2, err := ParseGenesis(js)
	if err != nil {
		t.Fatal(err)
	}
	if g2.Hash() != g.Hash() {
		t.Fatal("genesis hash changed across the JSON round trip")
	}
	// Quorum sizes keep two quorums overlapping in f+1 for any n.
	for n := 1; n <= MaxWitnesses; n++ {
		f := (n - 1) / 3
		q := (n + f + 2) / 2
		if 2*q-n < f+1 || q > n-f {
			t.Fatalf("n=%d: q=%d breaks intersection or liveness", n, q)
		}
	}

	mutate := func(f func(*genesisJSON)) error {
		var j genesisJSON
		j.NetworkID = "borgios-test"
		j.SupplyShells = 20_000_000
		j.Witnesses = []string{idOf(testKey("witness", 0)).String()}
		j.Params = DefaultParams()
		f(&j)
		data, err := json.Marshal(&j)
		if err != nil {
			return err
		}
		_, err = ParseGenesis(data)
		return err
	}
	if err := mutate(func(*genesisJSON) {}); err != nil {
		t.Fatalf("valid single-witness genesis refused: %v", err)
	}
	for name, c := range map[string]struct {
		f    func(*genesisJSON)
		want error
	}{
		"supply":       {func(j *genesisJSON) { j.SupplyShells = 12_000_000 }, ErrOutOfBounds},
		"fee":          {func(j *genesisJSON) { j.Params.TransferFee = MaxTransferFee + 1 }, ErrOutOfBounds},
		"storage rate": {func(j *genesisJSON) { j.Params.StorageRate = MaxStorageRate + 1 }, ErrOutOfBounds},
		"window":       {func(j *genesisJSON) { j.Params.DisputeWindowMs = 1 }, ErrOutOfBounds},
		"skew":         {func(j *genesisJSON) { j.Params.MaxClockSkewMs = MaxClockSkewMs + 1 }, ErrOutOfBounds},
		"no witness":   {func(j *genesisJSON) { j.Witnesses = nil }, ErrOutOfBounds},
		"dup witness":  {func(j *genesisJSON) { j.Witnesses = append(j.Witnesses, j.Witnesses[0]) }, ErrBadGenesis},
		"bad key":      {func(j *genesisJSON) { j.Witnesses[0] = "xyz" }, ErrMalformed},
		"network id":   {func(j *genesisJSON) { j.NetworkID = "Bad ID" }, ErrBadGenesis},
		"over-allocated": {func(j *genesisJSON) {
			j.Allocations = []allocationJSON{{Account: idOf(testKey("user", 0)).String(), Amount: TotalSupply}, {Account: idOf(testKey("user", 1)).String(), Amount: 1}}
		}, ErrBadGenesis},
		"treasury allocated": {func(j *genesisJSON) {
			j.Allocations = []allocationJSON{{Account: Treasury.String(), Amount: 1}}
		}, ErrBadGenesis},
	} {
		if err := mutate(c.f); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	if _, err := ParseGenesis([]byte(`{"network_id":"x","bogus":1}`)); !errors.Is(err, ErrBadGenesis) {
		t.Errorf("unknown field: %v", err)
	}
}

func TestTransferIsFinalOnceCertified(t *testing.T) {
	n := newTestNet(t, 2)
	alice, bob := testKey("user", 0), testKey("user", 1)
	fee := n.g.Params.TransferFee
	c := n.send(alice, bob, 10*MicroPerShell)
	if err := c.Verify(n.g, -1); err != nil {
		t.Fatal(err)
	}
	if got := n.obs.Balance(idOf(alice)); got != userFunds-10*MicroPerShell-fee {
		t.Fatalf("alice %s", got)
	}
	if n.obs.InFlight() != 10*MicroPerShell {
		t.Fatalf("in flight %s", n.obs.InFlight())
	}
	// The certificate is final: a conflicting block for the same slot is
	// refused by every witness.
	conflict := NewBlock(n.g, alice, 0, Hash{}, &Send{To: idOf(bob), Amount: 20 * MicroPerShell, Fee: fee})
	n.refused(conflict, ErrWrongSequence)
	n.receive(bob, c)
	if got := n.obs.Balance(idOf(bob)); got != userFunds+10*MicroPerShell {
		t.Fatalf("bob %s", got)
	}
	if n.obs.Treasury() != n.g.TreasuryStart()+fee {
		t.Fatalf("treasury did not get the fee")
	}
	// Re-submitting the certified block itself is harmless and idempotent.
	if again, _ := n.submit(c.Block); again == nil {
		t.Fatal("re-submitting a certified block should return the same votes")
	}
	// A batched receive credits several sends at once.
	c1 := n.send(alice, bob, 1*MicroPerShell)
	c2 := n.send(alice, bob, 2*MicroPerShell)
	n.receive(bob, c1, c2)
	if got := n.obs.Balance(idOf(bob)); got != userFunds+13*MicroPerShell {
		t.Fatalf("bob %s", got)
	}
}

func TestBadInputsEachRefusedWithItsOwnError(t *testing.T) {
	n := newTestNet(t, 3)
	alice, bob, carol := testKey("user", 0), testKey("user", 1), testKey("user", 2)
	fee := n.g.Params.TransferFee
	send := func(amt Amount) *Send { return &Send{To: idOf(bob), Amount: amt, Fee: fee} }

	// Wrong key: the block names alice's account but bob signed it.
	b := n.block(alice, send(1))
	b.Sign(bob)
	n.refused(b, ErrWrongKey)

	b = n.block(alice, send(1))
	b.Sig[5] ^= 1
	n.refused(b, ErrBadSignature)

	// Changing any signed field after signing also breaks the signature.
	b = n.block(alice, send(1))
	b.Op.(*Send).Amount = 1000
	n.refused(b, ErrBadSignature)

	n.refused(NewBlock(n.g, alice, 1, Hash{}, send(1)), ErrMissingPredecessor)
	n.refused(NewBlock(n.g, alice, 0, Hash{1}, send(1)), ErrWrongPrevious)
	n.refused(n.block(alice, send(0)), ErrZeroAmount)
	n.refused(n.block(alice, &Send{To: idOf(bob), Amount: math.MaxUint64, Fee: fee}), ErrAmountOverflow)
	n.refused(n.block(alice, &Send{To: idOf(bob), Amount: TotalSupply, Fee: fee}), ErrAmountOverflow)
	n.refused(n.block(alice, send(userFunds)), ErrInsufficientFunds)
	n.refused(n.block(alice, &Send{To: idOf(bob), Amount: 1, Fee: 0}), ErrWrongFee)
	n.refused(n.block(alice, &Send{To: idOf(alice), Amount: 1, Fee: fee}), ErrSelfTransfer)
	n.refused(n.block(alice, &Send{To: Treasury, Amount: 1, Fee: fee}), ErrTreasuryAccount)
	if _, err := ParseAmount("-5"); !errors.Is(err, ErrNegativeAmount) {
		t.Fatalf("negative: %v", err)
	}

	other := testGenesis(t, 3, Params{TransferFee: fee, DisputeWindowMs: MinDisputeWindowMs, MaxClockSkewMs: MinClockSkewMs})
	n.refused(NewBlock(other, alice, 0, Hash{}, send(1)), ErrWrongNetwork)

	c0 := n.send(alice, bob, 5*MicroPerShell)
	// Wrong sequence: a block for a slot that is already certified.
	n.refused(NewBlock(n.g, alice, 0, Hash{}, send(2)), ErrWrongSequence)

	// A credit of a send that never got certified: only two witnesses
	// (less than the quorum) ever see it.
	unc := n.block(alice, send(1))
	for i := 0; i < 2; i++ {
		if _, err := n.ws[i].Vote(unc, n.now); err != nil {
			t.Fatal(err)
		}
	}
	n.refused(n.block(bob, &Receive{Sources: []Hash{unc.Hash()}}), ErrSourceNotCertified)
	n.refused(n.block(carol, &Receive{Sources: []Hash{c0.BlockHash()}}), ErrNotRecipient)
	n.refused(n.block(bob, &Receive{Sources: []Hash{c0.BlockHash(), c0.BlockHash()}}), ErrDuplicateSource)
	open := n.mustCertify(n.block(carol, &LaneOpen{Payee: idOf(bob), Amount: 1}))
	n.refused(n.block(bob, &Receive{Sources: []Hash{open.BlockHash()}}), ErrNotASend)
	n.receive(bob, c0)
	n.refused(n.block(bob, &Receive{Sources: []Hash{c0.BlockHash()}}), ErrAlreadyCredited)

	// A certificate that is short of the quorum, forged, or from outside
	// the witness set is refused by any verifier.
	fresh := NewLedger(n.g)
	short := &Certificate{Block: c0.Block, Sigs: c0.Sigs[:2]}
	if _, err := fresh.Add(short); !errors.Is(err, ErrInsufficientSignatures) {
		t.Fatalf("short certificate: %v", err)
	}
	forged := &Certificate{Block: c0.Block, Sigs: append([]WitnessSig(nil), c0.Sigs...)}
	forged.Sigs[1].Sig[0] ^= 1
	if _, err := fresh.Add(forged); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged certificate: %v", err)
	}
	outsider := &Certificate{Block: c0.Block, Sigs: append(append([]WitnessSig(nil), c0.Sigs...), WitnessSig{Witness: 9})}
	if _, err := fresh.Add(outsider); !errors.Is(err, ErrUnknownWitness) {
		t.Fatalf("outsider: %v", err)
	}
	dup := &Certificate{Block: c0.Block, Sigs: []WitnessSig{c0.Sigs[0], c0.Sigs[0], c0.Sigs[1]}}
	if _, err := fresh.Add(dup); !errors.Is(err, ErrDuplicateWitness) {
		t.Fatalf("duplicate witness: %v", err)
	}
	// A vote from a witness for some other block is caught by the builder.
	cb := NewCertBuilder(n.g, c0.Block)
	if _, err := cb.Add(Vote{Witness: 0, Block: Hash{7}}); !errors.Is(err, ErrVoteForOtherBlock) {
		t.Fatalf("vote for other block: %v", err)
	}
	if _, err := cb.Add(Vote{Witness: 0, Block: c0.BlockHash()}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("unsigned vote: %v", err)
	}
}

// Catch-up: a new node receives every certificate in a random order and
// ends with exactly the balances the network has.
func TestCatchUpInAnyOrder(t *testing.T) {
	n := newTestNet(t, 4)
	u := func(i int) ed25519.PrivateKey { return testKey("user", i) }
	var sends []*Certificate
	for i := 0; i < 12; i++ {
		sends = append(sends, n.send(u(i%4), u((i+1)%4), Amount(i+1)*MicroPerShell))
	}
	for i := 0; i < 4; i++ {
		var mine []*Certificate
		for _, c := range sends {
			if c.Block.Op.(*Send).To == idOf(u(i)) {
				mine = append(mine, c)
			}
		}
		n.receive(u(i), mine...)
	}
	all := n.obs.Certificates(0)
	for seed := int64(1); seed <= 4; seed++ {
		perm := shuffled(len(all), seed)
		l := NewLedger(n.g)
		for _, j := range perm {
			// Through the wire encoding, as a peer would send it.
			c, err := DecodeCertificate(all[j].Encode())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Add(c); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
		}
		if l.Pending() != 0 || l.Len() != len(all) {
			t.Fatalf("seed %d: %d pending, %d applied of %d", seed, l.Pending(), l.Len(), len(all))
		}
		for i := 0; i < 4; i++ {
			if l.Balance(idOf(u(i))) != n.obs.Balance(idOf(u(i))) {
				t.Fatalf("seed %d: balance of user %d differs", seed, i)
			}
		}
		if err := l.CheckConservation(); err != nil {
			t.Fatal(err)
		}
	}
}
