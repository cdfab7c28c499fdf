package ledger

import (
	"encoding/json"
	"errors"
	"testing"
)

// cloneGenesis is what another process holds: the same genesis, parsed
// from the same file, with its own signature cache.
func cloneGenesis(tb testing.TB, g *Genesis) *Genesis {
	tb.Helper()
	js, err := json.Marshal(g)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := ParseGenesis(js)
	if err != nil {
		tb.Fatal(err)
	}
	if c.Hash() != g.Hash() {
		tb.Fatal("clone has another hash")
	}
	return c
}

func TestVoteTreePaths(t *testing.T) {
	for n := 1; n <= 70; n++ {
		leaves := make([]Hash, n)
		for i := range leaves {
			leaves[i] = hashWith("test", []byte{byte(i), byte(n)})
		}
		root, paths := buildVoteTree(leaves)
		for i, l := range leaves {
			if VoteRoot(l, paths[i]) != root {
				t.Fatalf("n=%d leaf %d: path does not lead to the root", n, i)
			}
			if len(paths[i]) > 7 {
				t.Fatalf("n=%d leaf %d: path of %d", n, i, len(paths[i]))
			}
			if n > 1 && VoteRoot(hashWith("other", []byte{byte(i)}), paths[i]) == root {
				t.Fatalf("n=%d: a foreign leaf reaches the root", n)
			}
		}
		if n == 1 && (root != leaves[0] || len(paths[0]) != 0) {
			t.Fatal("a one-vote batch must sign the block hash itself")
		}
	}
}

// TestBatchedVotes: one VoteBatch signs once; every vote verifies on its
// own (in a process that never saw the batch), a vote whose path or block
// is altered does not, and certificates from batched votes verify and
// apply on a fresh ledger.
func TestBatchedVotes(t *testing.T) {
	n := newTestNet(t, 8)
	var blocks []*Block
	for i := range 8 {
		blocks = append(blocks, n.block(testKey("user", i), &Send{To: idOf(testKey("user", (i+1)%8)), Amount: 5, Fee: n.g.Params.TransferFee}))
	}
	votes := make([][]Vote, numWitness)
	for w := range numWitness {
		vs, errs := n.ws[w].VoteBatch(blocks, n.now)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("witness %d block %d: %v", w, i, err)
			}
		}
		for i := 1; i < len(vs); i++ {
			if vs[i].Sig != vs[0].Sig {
				t.Fatal("a batch should carry one signature")
			}
		}
		votes[w] = vs
	}
	other := cloneGenesis(t, n.g)
	for w := range numWitness {
		for i, v := range votes[w] {
			dec, err := DecodeVote(v.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyVote(other, dec); err != nil {
				t.Fatalf("witness %d vote %d: %v", w, i, err)
			}
		}
	}
	bad := votes[0][3]
	bad.Path = append([]Hash(nil), bad.Path...)
	bad.Path[0][0] ^= 1
	if err := VerifyVote(cloneGenesis(t, n.g), bad); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("altered path: %v", err)
	}
	moved := votes[0][3]
	moved.Block = votes[0][4].Block
	if err := VerifyVote(other, moved); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("path of another block: %v", err)
	}
	fresh := NewLedger(cloneGenesis(t, n.g))
	for i, b := range blocks {
		cb := NewCertBuilder(other, b)
		var c *Certificate
		for w := range numWitness {
			var err error
			if c, err = cb.Add(votes[w][i]); err != nil {
				t.Fatal(err)
			}
			if c != nil {
				break
			}
		}
		dec, err := DecodeCertificate(c.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fresh.Add(dec); err != nil {
			t.Fatalf("certificate %d: %v", i, err)
		}
		n.confirm(c)
	}
	if err := fresh.CheckConservation(); err != nil {
		t.Fatal(err)
	}
}

// TestBatchedEquivocation: a witness that puts two blocks for one slot
// into its batches (even into one batch, under one signature) is caught
// by its signatures all the same.
func TestBatchedEquivocation(t *testing.T) {
	n := newTestNet(t, 3)
	owner := testKey("user", 0)
	fee := n.g.Params.TransferFee
	a := n.block(owner, &Send{To: idOf(testKey("user", 1)), Amount: 1, Fee: fee})
	b := n.block(owner, &Send{To: idOf(testKey("user", 2)), Amount: 1, Fee: fee})
	filler := n.block(testKey("user", 2), &Send{To: idOf(testKey("user", 1)), Amount: 1, Fee: fee})
	// A Byzantine witness 3 signs one root over both.
	root, paths := buildVoteTree([]Hash{a.Hash(), filler.Hash(), b.Hash()})
	d := voteDigest(n.g.Hash(), root)
	var sig Signature
	copy(sig[:], ed25519Sign(testKey("witness", 3), d[:]))
	ev := &Equivocation{Witness: 3, A: a, B: b, PathA: paths[0], PathB: paths[2], SigA: sig, SigB: sig}
	dec, err := DecodeEquivocation(ev.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Verify(cloneGenesis(t, n.g)); err != nil {
		t.Fatalf("evidence from one batched signature: %v", err)
	}
	ev.PathB = paths[1]
	if err := ev.Verify(n.g); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong path accepted as evidence: %v", err)
	}
}

// TestLegacyStoredCertificate: a witness's store written before batched
// votes (no paths) still loads, and the certificate still verifies.
func TestLegacyStoredCertificate(t *testing.T) {
	n := newTestNet(t, 2)
	c := n.send(testKey("user", 0), testKey("user", 1), 3)
	var w writer
	blk := c.Block.Encode()
	w.u32(uint32(len(blk)))
	w.bytes(blk)
	w.u8(uint8(len(c.Sigs)))
	for _, s := range c.Sigs {
		if len(s.Path) != 0 {
			t.Skip("certificate from a batch; legacy layout has no paths")
		}
		w.u16(s.Witness)
		w.sig(s.Sig)
	}
	if _, err := DecodeCertificate(w.b); err == nil {
		t.Fatal("legacy bytes parsed as the current layout")
	}
	got, err := decodeStoredCertificate(w.b)
	if err != nil {
		t.Fatal(err)
	}
	if got.BlockHash() != c.BlockHash() || got.Verify(cloneGenesis(t, n.g), -1) != nil {
		t.Fatal("legacy certificate does not verify")
	}
	if _, err := decodeStoredCertificate(append(w.b, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}
