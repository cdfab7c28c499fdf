package ledgercell

import (
	"errors"
	"testing"

	"github.com/borgios/borgios/node/ledger"
)

func shells(n int) ledger.Amount { return ledger.Amount(n) * ledger.MicroPerShell }

func TestTransferCertifiedAndFinal(t *testing.T) {
	n := newTestNet(t, 1, 4)
	ctx := ctxT(t)
	alice, bob := n.client(0), n.client(1)
	cert, err := alice.Send(ctx, bob.Account(), shells(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyCert(n.g, cert); err != nil {
		t.Fatal(err)
	}
	// Every node, witness or not, learns it and agrees.
	n.settle()
	for _, nd := range n.live() {
		nd.c.View(func(l *ledger.Ledger) {
			if _, ok := l.Certificate(cert.BlockHash()); !ok {
				t.Fatalf("%s lacks the certificate", nd.name)
			}
		})
	}
	// Bob credits it; the balance verifies from the chains alone.
	rc, err := bob.Receive(ctx)
	if err != nil || rc == nil {
		t.Fatalf("receive: %v %v", rc, err)
	}
	// Receive returns once a quorum holds the certificate; Balance reads
	// from the first witness, which may be the fourth, still applying it.
	n.settle()
	fee := n.g.Params.TransferFee
	a, err := alice.Balance(ctx, alice.Account())
	if err != nil {
		t.Fatal(err)
	}
	if want := userFunds - shells(100) - fee; a.Balance != want || a.Next != 1 {
		t.Fatalf("alice: %s next %d, want %s next 1", a.Balance, a.Next, want)
	}
	b, err := alice.Balance(ctx, bob.Account())
	if err != nil {
		t.Fatal(err)
	}
	if want := userFunds + shells(100); b.Balance != want || len(b.Pending) != 0 {
		t.Fatalf("bob: %s pending %d, want %s", b.Balance, len(b.Pending), want)
	}
	// Sending the same slot again with different content is refused.
	blk := ledger.NewBlock(n.g, testKey("user", 0), 0, ledger.Hash{}, &ledger.Send{To: bob.Account(), Amount: 1, Fee: fee})
	if _, err := alice.Certify(ctx, blk); err == nil {
		t.Fatal("a second block at a certified slot was certified")
	}
	// Overspending is refused with the core's sentinel.
	if _, err := alice.Send(ctx, bob.Account(), shells(5000)); !errors.Is(err, ledger.ErrInsufficientFunds) || !errors.Is(err, ErrRejected) {
		t.Fatalf("overspend: %v", err)
	}
	hist, err := bob.History(ctx, bob.Account(), 10)
	if err != nil || len(hist) != 2 {
		t.Fatalf("history: %v %+v", err, hist)
	}
	n.settle()
}
