package ledgercell

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/ledger"
)

func cellHostFor(key ed25519.PrivateKey) cell.Host {
	return cell.Host{Key: key, Network: testNetwork, Now: nowMs}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRewardsOverCells: a scrub auditor (witness 0, a genesis auditor) and
// a reader report work by a worker node; their Rewarders sign proofs and
// send them to the worker, which claims them on its own chain with its
// owner's binding. Each proof pays once, a mismatched one pays nothing,
// the owner credits the payouts, and the supply is unchanged everywhere.
func TestRewardsOverCells(t *testing.T) {
	n := newTestNet(t, 2, 2)
	const worker, reader = numWitnesses, numWitnesses + 1
	owner := testKey("user", 0)
	wk := n.nodes[worker].key
	wpub := wk.Public().(ed25519.PublicKey)
	bind := ledger.NewNodeBinding(n.g.Hash(), wk, owner)
	if err := os.WriteFile(filepath.Join(n.dir, n.nodes[worker].name+".binding"), bind.Encode(), 0o600); err != nil {
		t.Fatal(err)
	}
	newRewarder := func(i int) *Rewarder {
		r, err := NewRewarder(RewarderConfig{Genesis: ownGenesis(t, n.g), Key: n.nodes[i].key, Caller: n.caller(i),
			Resolve: n.resolve, Logger: quietLogger(), Timeout: 20 * time.Second, Now: nowMs})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		return r
	}
	auditor, readerRw := newRewarder(0), newRewarder(reader)

	content := sha256.Sum256([]byte("a shard"))
	challenge := sha256.Sum256([]byte("the challenge's expected answer"))
	auditor.Audit(wpub, content, 10<<30, true, challenge, challenge)
	auditor.Audit(wpub, content, 10<<30, true, challenge, challenge)                        // the same shard again this epoch
	auditor.Audit(wpub, content, 1<<30, true, challenge, [32]byte{9})                       // the answer did not match
	auditor.Audit(wpub, content, 1<<30, false, challenge, challenge)                        // audit failed
	readerRw.Audit(wpub, content, 1<<30, true, challenge, challenge)                        // not a genesis auditor
	readerRw.Delivery(wpub, 2<<30, content, content)                                        // a delivery receipt
	readerRw.Delivery(wpub, 2<<30, content, [32]byte{9})                                    // bytes did not match
	readerRw.Delivery(testKey("user", 1).Public().(ed25519.PublicKey), 0, content, content) // nothing delivered
	start := time.Now()
	waitFor(t, "the audits' claims", func() bool { s := auditor.Stats(); return s.Paid+s.Refused+s.Failed == 2 })
	waitFor(t, "the receipt's claim", func() bool { s := readerRw.Stats(); return s.Paid+s.Refused+s.Failed == 1 })
	if s := auditor.Stats(); s.Paid != 1 || s.Refused != 1 || s.Skipped != 2 {
		t.Fatalf("auditor: %+v, want 1 paid, 1 refused (paid before), 2 skipped; reader %+v", s, readerRw.Stats())
	}
	if s := readerRw.Stats(); s.Paid != 1 || s.Skipped != 3 {
		t.Fatalf("reader: %+v, want 1 paid, 3 skipped; auditor %+v", s, auditor.Stats())
	}

	t.Logf("rewarders done after %v", time.Since(start))
	// Sent directly: a mismatched proof and a paid one are refused, each
	// with its own reason.
	bad := &ledger.ServiceProof{Genesis: n.g.Hash(), Kind: ledger.ProofStorage, Node: ledger.AccountID(wpub),
		Expected: content, Observed: [32]byte{9}, Bytes: 1 << 30, Period: 5}
	bad.Sign(n.nodes[0].key)
	epoch := uint64(nowMs()) / uint64(24*time.Hour/time.Millisecond)
	again := &ledger.ServiceProof{Genesis: n.g.Hash(), Kind: ledger.ProofStorage, Node: ledger.AccountID(wpub),
		Expected: content, Observed: content, Bytes: 3 << 30, Period: epoch} // another auditor, other size, same work
	again.Sign(n.nodes[1].key)
	res, err := Claim(ctxT(t), n.caller(0), n.nodes[worker].target(), []*ledger.ServiceProof{bad, again})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err(), ledger.ErrHashMismatch) || !errors.Is(res[1].Err(), ledger.ErrProofAlreadyPaid) {
		t.Fatalf("claims: %v / %v", res[0].Err(), res[1].Err())
	}
	// A node without a binding claims nothing.
	unbound := *again
	unbound.Node = ledger.AccountID(n.nodes[reader].key.Public().(ed25519.PublicKey))
	unbound.Sign(n.nodes[0].key)
	if _, err := Claim(ctxT(t), n.caller(0), n.nodes[reader].target(), []*ledger.ServiceProof{&unbound}); err == nil {
		t.Fatal("an unbound node claimed a reward")
	}

	t.Logf("direct claims done after %v", time.Since(start))
	// The owner credits both payouts with one receive.
	want := userFunds + 10*n.g.Params.StorageRate + 2*n.g.Params.BandwidthRate
	oc := n.client(0)
	waitFor(t, "the owner's balance", func() bool {
		if _, err := oc.Receive(ctxT(t)); err != nil {
			t.Logf("receive: %v", err)
		}
		info, err := oc.Balance(ctxT(t), idOf(owner))
		return err == nil && info.Balance == want
	})
	t.Logf("owner credited after %v", time.Since(start))
	// The wallet's view: the verified balance says how much was earned,
	// the history names the work and the node.
	info, err := oc.Balance(ctxT(t), idOf(owner))
	if err != nil || info.Earned != want-userFunds {
		t.Fatalf("verified earnings %s, want %s (%v)", info.Earned, want-userFunds, err)
	}
	items, err := oc.History(ctxT(t), idOf(owner), 10)
	if err != nil {
		t.Fatal(err)
	}
	works := map[string]bool{}
	for _, it := range items {
		if it.Kind == "incoming" && it.Credited && it.Work != "" && ledger.AccountID(it.Counterparty) == ledger.Treasury &&
			ed25519.PublicKey(it.Node).Equal(wpub) {
			works[it.Work] = true
		}
	}
	if !works["storage"] || !works["delivery"] {
		t.Fatalf("history %+v: want storage and delivery earnings from the worker", items)
	}
	n.settle()
	t.Logf("settled after %v", time.Since(start))
	n.nodes[worker].c.View(func(l *ledger.Ledger) {
		if l.Treasury() != n.g.TreasuryStart()-(want-userFunds) {
			t.Fatalf("treasury %s", l.Treasury())
		}
	})
}

// TestBindingFile: the binding is read as canonical bytes (whatever its
// last byte) or as hex text, and a missing, foreign or broken one refuses
// claims with ErrNotBound.
func TestBindingFile(t *testing.T) {
	g := testGenesis(t, 1)
	node := testKey("observer", 0)
	path := filepath.Join(t.TempDir(), "owner.binding")
	c := &Cell{cfg: Config{Host: cellHostFor(node), BindingPath: path}, g: g}
	if _, err := c.binding(); !errors.Is(err, ErrNotBound) {
		t.Fatalf("missing file: %v", err)
	}
	tested, trimmed := 0, false
	for i := 0; i < 5000 && (tested < 4 || !trimmed); i++ {
		// Some owners, and at least one whose encoding ends in a
		// whitespace byte, which a trimming reader would cut.
		b := ledger.NewNodeBinding(g.Hash(), node, testKey("owner", i))
		raw := b.Encode()
		cut := len(bytes.TrimSpace(raw)) != len(raw)
		if tested >= 4 && !cut {
			continue
		}
		tested++
		trimmed = trimmed || cut
		for _, form := range [][]byte{raw, []byte(hex.EncodeToString(raw) + "\n")} {
			if err := os.WriteFile(path, form, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := c.binding()
			if err != nil || got.Owner != b.Owner {
				t.Fatalf("owner %d: %v", i, err)
			}
		}
	}
	if !trimmed {
		t.Fatal("no binding ending in whitespace found")
	}
	other := ledger.NewNodeBinding(g.Hash(), testKey("observer", 1), testKey("owner", 0))
	os.WriteFile(path, other.Encode(), 0o600)
	if _, err := c.binding(); !errors.Is(err, ErrNotBound) {
		t.Fatalf("another node's binding: %v", err)
	}
	broken := ledger.NewNodeBinding(g.Hash(), node, testKey("owner", 0))
	broken.OwnerSig[3] ^= 1
	os.WriteFile(path, broken.Encode(), 0o600)
	if _, err := c.binding(); !errors.Is(err, ErrNotBound) {
		t.Fatalf("bad signature: %v", err)
	}
}
