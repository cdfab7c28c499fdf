package netclock_test

import (
	"errors"
	"testing"
	"time"

	"github.com/borgios/borgios/node/wire"
)

func seal(t *testing.T, n *tnode) []byte {
	t.Helper()
	b, err := wire.Seal(n.key, wire.Header{Network: testNetwork, Cell: "registry", Kind: "x", Time: n.svc.Now()}, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWireAcceptsAcrossSkewAfterSync: two nodes whose clocks are 1 h 40 min
// apart. Before sync, the ordinary 30 s verifier of one refuses the other's
// envelopes (and the crono verifier accepts the crono traffic anyway); after
// sync each accepts the other's envelopes, because both stamp and check
// with network time.
func TestWireAcceptsAcrossSkewAfterSync(t *testing.T) {
	c := newCluster(t)
	a := c.add("a", -40*time.Minute, 80, 2)
	b := c.add("b", time.Hour, -90, 2, a)

	if _, err := a.verifier.Verify(seal(t, b)); !errors.Is(err, wire.ErrFromFuture) {
		t.Fatalf("before sync, a's verifier took b's envelope: %v", err)
	}
	if _, err := b.verifier.Verify(seal(t, a)); !errors.Is(err, wire.ErrTooOld) {
		t.Fatalf("before sync, b's verifier took a's envelope: %v", err)
	}

	waitTree(t, c.nodes, 30*time.Second)
	waitSync(t, a, c.nodes, bound/2, 30*time.Second)
	for range 20 {
		if _, err := a.verifier.Verify(seal(t, b)); err != nil {
			t.Fatalf("after sync, a refuses b: %v", err)
		}
		if _, err := b.verifier.Verify(seal(t, a)); err != nil {
			t.Fatalf("after sync, b refuses a: %v", err)
		}
	}
	d, _ := errorAgainst(a, b)
	t.Logf("b against a after sync: %v (clocks %v apart)", d, 100*time.Minute)
}
