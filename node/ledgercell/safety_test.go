package ledgercell

import (
	"context"
	"crypto/ed25519"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/borgios/borgios/node/ledger"
)

// voteAt asks exactly the witnesses in idx for votes on b and returns the
// certificate if those votes alone reach the quorum.
func voteAt(ctx context.Context, c *Client, n *testNet, b *ledger.Block, idx ...int) (*ledger.Certificate, int) {
	ts := n.witnessTargets()
	cb := ledger.NewCertBuilder(n.g, b)
	var cert *ledger.Certificate
	votes := 0
	for _, i := range idx {
		r, err := c.pipe(ts[i]).vote(ctx, b.Encode())
		if err != nil || r.Code != voteOK {
			continue
		}
		v, err := ledger.DecodeVote(r.Vote)
		if err != nil {
			continue
		}
		votes++
		if ct, _ := cb.Add(v); ct != nil {
			cert = ct
		}
	}
	return cert, votes
}

// An owner who sends two conflicting blocks for one sequence to different
// witnesses gets at most one certified, whatever the interleaving.
func TestConflictingBlocksAtMostOneCertified(t *testing.T) {
	const users = 6
	n := newTestNet(t, 1, users)
	ctx := ctxT(t)
	fee := n.g.Params.TransferFee
	to := idOf(testKey("user", users-1))
	type interleaving struct {
		name string
		run  func(c *Client, a, b *ledger.Block) []*ledger.Certificate
	}
	certifyBoth := func(c *Client, a, b *ledger.Block) []*ledger.Certificate {
		var out []*ledger.Certificate
		for _, blk := range []*ledger.Block{a, b} {
			if ct, err := c.Certify(ctx, blk); err == nil {
				out = append(out, ct)
			} else if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNoQuorum) && !errors.Is(err, ledger.ErrWrongSequence) {
				t.Errorf("unexpected refusal: %v", err)
			}
		}
		return out
	}
	cases := []interleaving{
		{"split 2/2 then full retries", func(c *Client, a, b *ledger.Block) []*ledger.Certificate {
			var out []*ledger.Certificate
			if ct, _ := voteAt(ctx, c, n, a, 0, 1); ct != nil {
				out = append(out, ct)
			}
			if ct, _ := voteAt(ctx, c, n, b, 2, 3); ct != nil {
				out = append(out, ct)
			}
			return append(out, certifyBoth(c, a, b)...)
		}},
		{"A to three, B to all", func(c *Client, a, b *ledger.Block) []*ledger.Certificate {
			var out []*ledger.Certificate
			if ct, _ := voteAt(ctx, c, n, a, 0, 1, 2); ct != nil {
				out = append(out, ct)
			}
			if ct, _ := voteAt(ctx, c, n, b, 3, 2, 1, 0); ct != nil {
				out = append(out, ct)
			}
			return out
		}},
		{"alternating", func(c *Client, a, b *ledger.Block) []*ledger.Certificate {
			var out []*ledger.Certificate
			for i := range numWitnesses {
				first, second := a, b
				if i%2 == 1 {
					first, second = b, a
				}
				voteAt(ctx, c, n, first, i)
				voteAt(ctx, c, n, second, i)
			}
			for _, blk := range []*ledger.Block{a, b} {
				if ct, _ := voteAt(ctx, c, n, blk, 0, 1, 2, 3); ct != nil {
					out = append(out, ct)
				}
			}
			return out
		}},
		{"both at once to everyone", func(c *Client, a, b *ledger.Block) []*ledger.Certificate {
			var mu sync.Mutex
			var out []*ledger.Certificate
			var wg sync.WaitGroup
			for _, blk := range []*ledger.Block{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if ct, err := c.Certify(ctx, blk); err == nil {
						mu.Lock()
						out = append(out, ct)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			return out
		}},
		{"B first to one, then both everywhere", func(c *Client, a, b *ledger.Block) []*ledger.Certificate {
			voteAt(ctx, c, n, b, 3)
			return certifyBoth(c, a, b)
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := n.client(i)
			key := testKey("user", i)
			a := ledger.NewBlock(n.g, key, 0, ledger.Hash{}, &ledger.Send{To: to, Amount: shells(1), Fee: fee})
			b := ledger.NewBlock(n.g, key, 0, ledger.Hash{}, &ledger.Send{To: to, Amount: shells(2), Fee: fee})
			certs := tc.run(c, a, b)
			hashes := map[ledger.Hash]bool{}
			for _, ct := range certs {
				hashes[ct.BlockHash()] = true
			}
			if len(hashes) > 1 {
				t.Fatalf("both conflicting blocks certified")
			}
		})
	}
	n.settle()
	for _, nd := range n.live() {
		if ev := nd.c.Equivocations(); len(ev) != 0 {
			t.Fatalf("%s found equivocations among honest witnesses: %d", nd.name, len(ev))
		}
	}
}

// A witness that signs two conflicting blocks is caught by its own
// signatures: two witnesses (more than f) double-sign, both blocks get
// certificates, and every node that sees both names exactly them.
func TestEquivocationDetectedFromSignatures(t *testing.T) {
	n := newTestNet(t, 1, 2)
	ctx := ctxT(t)
	fee := n.g.Params.TransferFee
	key := testKey("user", 0)
	to := idOf(testKey("user", 1))
	a := ledger.NewBlock(n.g, key, 0, ledger.Hash{}, &ledger.Send{To: to, Amount: shells(1), Fee: fee})
	b := ledger.NewBlock(n.g, key, 0, ledger.Hash{}, &ledger.Send{To: to, Amount: shells(2), Fee: fee})
	// The byzantine witnesses 0 and 1 keep a second, separate vote state
	// under their keys: each state votes once, together they vote twice.
	byz := func(i int, blk *ledger.Block) ledger.Vote {
		w, err := ledger.OpenWitness(n.g, testKey("witness", i), ledger.NewMemStore())
		if err != nil {
			t.Fatal(err)
		}
		v, err := w.Vote(blk, uint64(nowMs()))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c := n.client(0)
	certA, _ := voteAt(ctx, c, n, a, 0, 1, 2) // honest 0, 1 and 2 vote for A
	if certA == nil {
		t.Fatal("A not certified")
	}
	cbB := ledger.NewCertBuilder(n.g, b)
	var certB *ledger.Certificate
	for _, v := range []ledger.Vote{byz(0, b), byz(1, b)} {
		if _, err := cbB.Add(v); err != nil {
			t.Fatal(err)
		}
	}
	r, err := c.pipe(n.witnessTargets()[3]).vote(ctx, b.Encode()) // honest 3 votes for B
	if err != nil || r.Code != voteOK {
		t.Fatalf("witness 3: %v %+v", err, r)
	}
	v3, _ := ledger.DecodeVote(r.Vote)
	if certB, err = cbB.Add(v3); err != nil || certB == nil {
		t.Fatalf("B: %v", err)
	}
	// A spreads first, then B is pushed to the observer and spread.
	if _, err := c.pipe(n.nodes[4].target()).confirm(ctx, encodeCerts([]*ledger.Certificate{certA}), true); err != nil {
		t.Fatal(err)
	}
	n.settle()
	if _, err := c.pipe(n.nodes[4].target()).confirm(ctx, encodeCerts([]*ledger.Certificate{certB}), true); err != nil {
		t.Fatal(err)
	}
	evs := n.nodes[4].c.Equivocations()
	got := map[uint16]bool{}
	for _, e := range evs {
		if err := e.Verify(n.g); err != nil {
			t.Fatalf("evidence does not verify: %v", err)
		}
		// Evidence travels as bytes; anyone with the genesis checks it.
		back, err := ledger.DecodeEquivocation(e.Encode())
		if err != nil || back.Verify(n.g) != nil {
			t.Fatalf("evidence round trip: %v", err)
		}
		got[e.Witness] = true
	}
	i0, _ := n.g.WitnessIndex(testKey("witness", 0).Public().(ed25519.PublicKey))
	i1, _ := n.g.WitnessIndex(testKey("witness", 1).Public().(ed25519.PublicKey))
	if len(got) != 2 || !got[uint16(i0)] || !got[uint16(i1)] {
		t.Fatalf("evidence names witnesses %v, want %d and %d", got, i0, i1)
	}
	// Nodes keep A; B is reported, never applied.
	n.settle()
	for _, nd := range n.live() {
		nd.c.View(func(l *ledger.Ledger) {
			if _, ok := l.Certificate(certB.BlockHash()); ok {
				t.Fatalf("%s applied the second certificate", nd.name)
			}
		})
	}
}

// One witness down changes nothing; two down stop new certificates but
// lose nothing, and the same block is certified once they are back.
func TestWitnessesDown(t *testing.T) {
	n := newTestNet(t, 1, 4)
	ctx := ctxT(t)
	alice, bob := n.client(0), n.client(1)
	n.stop(3)
	var sent []*ledger.Certificate
	for i := range 3 {
		ct, err := alice.Send(ctx, bob.Account(), shells(10+i))
		if err != nil {
			t.Fatalf("send %d with one witness down: %v", i, err)
		}
		sent = append(sent, ct)
	}
	if _, err := bob.Receive(ctx); err != nil {
		t.Fatalf("receive with one witness down: %v", err)
	}
	n.stop(2)
	seq, prev, err := alice.Head(ctx, alice.Account())
	if err != nil {
		t.Fatal(err)
	}
	blk := ledger.NewBlock(n.g, testKey("user", 0), seq, prev, &ledger.Send{To: bob.Account(), Amount: shells(7), Fee: n.g.Params.TransferFee})
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = alice.Certify(short, blk)
	cancel()
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("two witnesses down: %v, want ErrNoQuorum", err)
	}
	// Nothing lost: the live nodes keep every certificate.
	for _, nd := range n.live() {
		nd.c.View(func(l *ledger.Ledger) {
			for _, ct := range sent {
				if _, ok := l.Certificate(ct.BlockHash()); !ok {
					t.Fatalf("%s lost a certificate", nd.name)
				}
			}
		})
	}
	n.start(2)
	n.start(3)
	n.waitTree()
	// The restarted witnesses catch up from peers, and the very block
	// that could not be certified now is (it held two votes already).
	var ct *ledger.Certificate
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if ct, err = alice.Certify(ctx, blk); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if ct.BlockHash() != blk.Hash() {
		t.Fatal("another block certified")
	}
	n.settle()
	info, err := alice.Balance(ctx, alice.Account())
	if err != nil {
		t.Fatal(err)
	}
	fee := n.g.Params.TransferFee
	if want := userFunds - shells(10+11+12+7) - 4*fee; info.Balance != want {
		t.Fatalf("alice %s, want %s", info.Balance, want)
	}
}
