package ledgercell

import (
	"testing"

	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/wire"
)

// TestCatchUpByInventory: an observer that was down while certificates
// were made gets them by catch-up (inventory, then the missing ones by
// hash), verifies and applies them; a catch-up round at a node that holds
// everything applies nothing and fetches no certificate.
func TestCatchUpByInventory(t *testing.T) {
	n := newTestNet(t, 1, 3)
	ctx := ctxT(t)
	alice, bob := n.client(0), n.client(1)
	obs := numWitnesses // the observer's index
	n.stop(obs)
	var sent []*ledger.Certificate
	for i := range 3 {
		ct, err := alice.Send(ctx, bob.Account(), shells(1+i))
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, ct)
	}
	n.start(obs)
	// The observer missed the broadcasts: only catch-up brings them. One
	// round from a witness, explicitly: the test is the inventory path,
	// not how fast a restarted node gets its place in the tree back (which
	// under a loaded CI machine took longer than any deadline here).
	o := n.nodes[obs].c
	w0 := n.nodes[0].target()
	// (The node's own sync loop may have caught up first: what counts is
	// that it holds every certificate afterwards.)
	if _, err := o.syncFrom(ctx, w0, map[string]int{}); err != nil {
		t.Fatalf("catch-up: %v", err)
	}
	o.View(func(l *ledger.Ledger) {
		if err := l.CheckConservation(); err != nil {
			t.Fatal(err)
		}
		for _, ct := range sent {
			if _, ok := l.Certificate(ct.BlockHash()); !ok {
				t.Fatal("observer lacks a certificate after catch-up")
			}
		}
	})
	applied, err := o.syncFrom(ctx, w0, map[string]int{})
	if err != nil || applied != 0 {
		t.Fatalf("second catch-up applied %d (%v), want 0", applied, err)
	}
	pg, err := fetchInventory(ctx, n.caller(obs), w0, 0)
	if err != nil || pg.n == 0 || len(pg.hashes) != pg.n || pg.certs != nil {
		t.Fatalf("inventory: %+v %v", pg, err)
	}
	missing, err := o.fetchMissing(ctx, w0, pg.hashes)
	if err != nil || len(missing) != 0 {
		t.Fatalf("fetched %d certificates the observer holds (%v)", len(missing), err)
	}
	// A node that lacks them gets them in the inventory's order.
	fresh := &Cell{g: n.g, led: ledger.NewLedger(n.g), caller: n.caller(obs), cfg: o.cfg}
	got, err := fresh.fetchMissing(ctx, w0, pg.hashes)
	if err != nil || len(got) != len(pg.hashes) {
		t.Fatalf("fetched %d of %d (%v)", len(got), len(pg.hashes), err)
	}
	for i, ct := range got {
		if ct.BlockHash() != pg.hashes[i] {
			t.Fatalf("certificate %d out of order", i)
		}
	}
	// Unknown hashes are covered but left out.
	payload, _ := marshal(certsRequest{Want: [][]byte{make([]byte, 32), pg.hashes[0][:]}})
	raw, err := n.caller(obs).Call(ctx, w0, DNA, KindCerts, payload)
	if err != nil {
		t.Fatal(err)
	}
	var a certsAnswer
	if err := wire.Unmarshal(raw, &a); err != nil || a.Next != 2 || len(a.Certs) != 1 {
		t.Fatalf("want answer: next %d, %d certificates (%v)", a.Next, len(a.Certs), err)
	}
}

// TestSpreadAnnounces: broadcasts announce block hashes; an observer
// fetches the certificates it lacks and converges without waiting for
// catch-up, and every node ends with the same certificates.
func TestSpreadAnnounces(t *testing.T) {
	n := newTestNet(t, 1, 3)
	ctx := ctxT(t)
	alice, bob := n.client(0), n.client(1)
	for i := range 5 {
		if _, err := alice.Send(ctx, bob.Account(), shells(1+i)); err != nil {
			t.Fatal(err)
		}
	}
	n.settle()
	var spread, fetched int64
	for _, nd := range n.live() {
		st := nd.c.Status()
		spread += st.Spread
		fetched += st.Fetched
	}
	if spread == 0 {
		t.Fatal("nothing was announced")
	}
	// The observer may also have caught up by sync first; only the sum
	// over all nodes must show fetches of announced certificates, unless
	// catch-up won every race.
	t.Logf("announced %d, fetched after announcements %d", spread, fetched)

	// A node that holds none of them fetches them from the announcer
	// (no tree view here, so the announcer is the only source).
	var hs [][]byte
	n.nodes[0].c.View(func(l *ledger.Ledger) {
		for _, ct := range l.Certificates(0) {
			h := ct.BlockHash()
			hs = append(hs, h[:])
		}
	})
	o := n.nodes[numWitnesses].c
	fresh := &Cell{g: n.g, led: ledger.NewLedger(n.g), caller: n.caller(numWitnesses), cfg: o.cfg, ctx: ctx, log: o.log}
	got, err := fresh.fetchAnnounced(hs, n.nodes[0].target().Key)
	if err != nil || len(got) != len(hs) {
		t.Fatalf("fetched %d of %d announced (%v)", len(got), len(hs), err)
	}
	// A node that holds them all fetches nothing and asks no one.
	got, err = o.fetchAnnounced(hs, n.nodes[0].target().Key)
	if err != nil || len(got) != 0 {
		t.Fatalf("observer fetched %d it holds (%v)", len(got), err)
	}
}
