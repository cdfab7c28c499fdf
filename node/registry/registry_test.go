package registry

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/wire"
)

func lookupKeys(t *testing.T, ctx context.Context, cl *cell.Client, at *testNode, cellName string) ([]Entry, error) {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return Lookup(cctx, cl, at.target(), cellName)
}

func hasNode(es []Entry, n *testNode) bool {
	return slices.ContainsFunc(es, func(e Entry) bool { return e.Node.Equal(n.target().Key) })
}

// waitAll polls every node's lookup of cellName until it lists exactly want.
func waitAll(t *testing.T, cl *cell.Client, nodes []*testNode, cellName string, want []*testNode) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ok := true
		for i, n := range nodes {
			es, err := lookupKeys(t, context.Background(), cl, n, cellName)
			if err != nil {
				ok, last = false, fmt.Sprintf("node %d: %v", i, err)
				break
			}
			if len(es) != len(want) {
				ok, last = false, fmt.Sprintf("node %d lists %d of %d for %s", i, len(es), len(want), cellName)
				break
			}
			for _, w := range want {
				if !hasNode(es, w) {
					ok, last = false, fmt.Sprintf("node %d misses a node for %s", i, cellName)
				}
			}
		}
		if ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, n := range nodes {
		v := n.rt.View()
		t.Logf("node %d %s: %s pos %d size %d root %.8s parent %.8s tree %s; registry %+v", i, n.target().Addr, v.Status, v.Position, v.Size, v.Root.Key, v.Parent.Key, v.TreeID, n.reg.Status())
	}
	t.Fatalf("lookups never converged: %s", last)
}

var (
	cronoAndRegistry = []CellRef{{"crono", 1}, {"registry", 1}}
	registryOnly     = []CellRef{{"registry", 1}}
)

// TestRegistryNetwork runs five registry nodes on real QUIC: every node's
// lookup lists every live node serving the cell asked for; forged, expired,
// old and replayed entries are refused everywhere; a killed node leaves
// every node's answers within its TTL.
func TestRegistryNetwork(t *testing.T) {
	const ttl = 2 * time.Second
	root := startNode(t, nodeOpts{cells: cronoAndRegistry, ttl: ttl})
	nodes := []*testNode{root}
	for i := 1; i < 5; i++ {
		cells := cronoAndRegistry
		if i == 1 {
			cells = registryOnly
		}
		nodes = append(nodes, startNode(t, nodeOpts{cells: cells, ttl: ttl}, root, nodes[i-1]))
	}
	cl := newClient(t)
	ctx := context.Background()

	waitAll(t, cl, nodes, "registry", nodes)
	cronoNodes := []*testNode{nodes[0], nodes[2], nodes[3], nodes[4]}
	waitAll(t, cl, nodes, "crono", cronoNodes)
	if es, _ := lookupKeys(t, ctx, cl, nodes[3], "crono"); hasNode(es, nodes[1]) {
		t.Fatal("a registry-only node is listed for crono")
	}
	if es, err := lookupKeys(t, ctx, cl, nodes[2], "shard"); err != nil || len(es) != 0 {
		t.Fatalf("lookup of a cell nobody runs: %v, %v", es, err)
	}
	for i, n := range nodes {
		if st := n.reg.Status(); st.Cells["registry"].Nodes != 5 || st.Cells["crono"].Nodes != 4 {
			t.Errorf("node %d status: %+v", i, st)
		}
	}

	for i, n := range nodes {
		if n.metric(t, "borgios_registry_published_total", "", "") < 1 || n.metric(t, "borgios_registry_entries_accepted_total", "", "") < 5 {
			t.Errorf("node %d metrics do not show publishing and accepting", i)
		}
	}

	t.Run("forged", func(t *testing.T) { testForged(t, cl, nodes) })
	t.Run("expired and old", func(t *testing.T) { testExpiredAndOld(t, cl, nodes) })
	t.Run("bad requests", func(t *testing.T) { testBadRequests(t, cl, nodes[0]) })

	// Kill a node in the middle of the tree, abruptly.
	victim := nodes[2]
	survivors := slices.Delete(slices.Clone(nodes), 2, 3)
	last := victim.reg.Self()
	killedAt := time.Now()
	victim.kill()
	// The bound: the victim's last entry was issued no later than its death
	// and lives TTL; every answer filters on expiry at answer time. So once
	// TTL has passed since the kill, no node may list it, whatever the tree
	// is doing.
	gone := time.Duration(0)
	for deadline := killedAt.Add(ttl + 30*time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		listed := false
		for _, n := range survivors {
			es, err := lookupKeys(t, ctx, cl, n, "registry")
			if err != nil {
				t.Fatalf("lookup after the kill: %v", err)
			}
			listed = listed || hasNode(es, victim)
		}
		if !listed {
			gone = time.Since(killedAt)
			break
		}
	}
	if gone == 0 {
		t.Fatal("the killed node never left the answers")
	}
	t.Logf("killed node gone from all %d survivors' answers %v after the kill (last entry expired %v after the kill; TTL %v)",
		len(survivors), gone.Round(time.Millisecond), time.Duration(last.ExpiresAt-killedAt.UnixMilli())*time.Millisecond, ttl)
	if wait := time.Until(killedAt.Add(ttl + 10*time.Millisecond)); wait > 0 {
		time.Sleep(wait)
	}
	for i, n := range survivors {
		es, err := lookupKeys(t, ctx, cl, n, "registry")
		if err != nil || hasNode(es, victim) {
			t.Fatalf("survivor %d still lists the killed node TTL after its death (err %v)", i, err)
		}
	}
	// The survivors stay listed: the tree repairs around the hole and
	// their entries keep flowing.
	waitAll(t, cl, survivors, "registry", survivors)
}

func testForged(t *testing.T, cl *cell.Client, nodes []*testNode) {
	ctx := context.Background()
	victim := nodes[3]
	now := nowMs()
	// The attacker (the client's key) signs an entry claiming to be the
	// victim, redirecting it to the attacker's address with a huge sequence.
	w := validWire(cl.Key, now, 1<<62)
	w.Node = victim.target().Key
	w.Addrs = []string{"192.0.2.66:1"}
	forged := sealWire(t, cl.Key, w, now)

	// Directly: refused.
	if err := nodes[0].reg.Accept(forged); !isErr(err, ErrForged) {
		t.Fatalf("direct forged entry: %v", err)
	}
	// Through the tree: the receptor broadcasts what the requester signed
	// to every member; every member refuses it.
	before := make([]int64, len(nodes))
	for i, n := range nodes {
		before[i] = n.reg.Status().Refused["forged"]
	}
	if _, err := cl.Call(ctx, nodes[1].target(), DNA, cell.KindAnnounce, forged); err != nil {
		t.Fatalf("announce: %v", err)
	}
	waitRefused(t, nodes, "forged", before)
	if got := nodes[2].metric(t, "borgios_registry_entries_refused_total", "reason", "forged"); got < 1 {
		t.Errorf("forged refusals metric %v", got)
	}
	for i, n := range nodes {
		es, err := lookupKeys(t, ctx, cl, n, "crono")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if slices.Contains(e.Addrs, "192.0.2.66:1") {
				t.Fatalf("node %d lists the forged entry", i)
			}
		}
		if got := n.reg.Get(victim.target().Key); got == nil || got.Seq >= 1<<62 {
			t.Fatalf("node %d lost or replaced the victim's genuine entry: %v", i, got)
		}
	}
}

func isErr(err, target error) bool { return err != nil && errors.Is(err, target) }

func waitRefused(t *testing.T, nodes []*testNode, reason string, before []int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i, n := range nodes {
		for n.reg.Status().Refused[reason] <= before[i] {
			if time.Now().After(deadline) {
				t.Fatalf("node %d never saw (and refused) the %s entry", i, reason)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func testExpiredAndOld(t *testing.T, cl *cell.Client, nodes []*testNode) {
	ctx := context.Background()
	counts := func(reason string) []int64 {
		out := make([]int64, len(nodes))
		for i, n := range nodes {
			out[i] = n.reg.Status().Refused[reason]
		}
		return out
	}
	announce := func(raw []byte) error {
		_, err := cl.Call(ctx, nodes[4].target(), DNA, cell.KindAnnounce, raw)
		return err
	}
	// The client announces entries about its own key for a cell nobody
	// else runs, so that the accepted one cannot disturb other lookups.
	own := func(issued, expires int64, seq uint64) []byte {
		w := validWire(cl.Key, issued, seq)
		w.Cells = []CellRef{{"probe", 1}}
		w.ExpiresAt = expires
		return sealWire(t, cl.Key, w, issued)
	}
	now := nowMs()
	before := counts("expired")
	if err := announce(own(now-1500, now-500, 10)); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, nodes, "expired", before)

	fresh := own(now, now+60_000, 100)
	if err := announce(fresh); err != nil {
		t.Fatal(err)
	}
	pub := cl.Key.Public().(ed25519.PublicKey)
	deadline := time.Now().Add(30 * time.Second)
	for i, n := range nodes {
		for e := n.reg.Get(pub); e == nil || e.Seq != 100; e = n.reg.Get(pub) {
			if time.Now().After(deadline) {
				t.Fatalf("node %d never accepted the fresh entry", i)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	es, err := lookupKeys(t, ctx, cl, nodes[2], "probe")
	if err != nil || len(es) != 1 || !bytes.Equal(es[0].Raw(), fresh) {
		t.Fatalf("lookup of the fresh entry: %v %v", es, err)
	}

	// An older sequence, newly signed (so no replay cache can catch it):
	// refused by its sequence everywhere.
	before = counts("stale")
	if err := announce(own(nowMs(), nowMs()+60_000, 50)); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, nodes, "stale", before)
	// The exact fresh bytes again: the receptor's replay guard refuses them
	// before they reach the tree; handed over directly they are a
	// duplicate, and an old sequence is stale.
	if err := announce(fresh); !cell.HasCode(err, cell.CodeReplay) {
		t.Fatalf("replayed announcement: %v", err)
	}
	if err := nodes[0].reg.Accept(fresh); !isErr(err, ErrDuplicate) {
		t.Fatalf("held entry again: %v", err)
	}
	if err := nodes[0].reg.Accept(own(nowMs(), nowMs()+60_000, 99)); !isErr(err, ErrStale) {
		t.Fatalf("older sequence, directly: %v", err)
	}
	for i, n := range nodes {
		if e := n.reg.Get(pub); e == nil || e.Seq != 100 {
			t.Fatalf("node %d holds %v, want seq 100", i, e)
		}
	}
}

func testBadRequests(t *testing.T, cl *cell.Client, n *testNode) {
	ctx := context.Background()
	for _, c := range []struct {
		kind    string
		payload any
	}{
		{KindLookup, lookupRequest{Cell: "Not A Cell"}},
		{KindLookup, lookupRequest{Cell: "crono", Limit: MaxLookupLimit + 1}},
		{KindLookup, "junk"},
		{KindDump, dumpRequest{After: []byte{1, 2, 3}}},
		{KindDump, dumpRequest{Limit: -1}},
	} {
		p, err := wire.Marshal(c.payload)
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.Call(ctx, n.target(), DNA, c.kind, p)
		if !cell.HasCode(err, cell.CodeBadRequest) {
			t.Errorf("%s %+v: %v, want %s", c.kind, c.payload, err, cell.CodeBadRequest)
		}
	}
	e, err := SelfEntry(ctx, cl, n.target())
	if err != nil || !bytes.Equal(e.Node, n.target().Key) {
		t.Fatalf("self: %v %v", e, err)
	}
	all, err := Dump(ctx, cl, n.target())
	if err != nil || len(all) < 5 {
		t.Fatalf("dump: %d entries, %v", len(all), err)
	}
}

// TestTreeDeathDropsAtOnce: a neighbour the tree confirmed dead is dropped
// without waiting for expiry, and replays of its entry stay out.
func TestTreeDeathDropsAtOnce(t *testing.T) {
	n := startNode(t, nodeOpts{})
	other := newKey(t)
	now := nowMs()
	raw := sealWire(t, other, validWire(other, now, 5), now)
	if err := n.reg.Accept(raw); err != nil {
		t.Fatal(err)
	}
	var id peertree.NodeID
	copy(id[:], other.Public().(ed25519.PublicKey))
	n.reg.HandleTreeEvent(peertree.Event{Kind: peertree.EventSuspect, Peer: id})
	if n.reg.Get(id[:]) == nil {
		t.Fatal("a suspect was dropped")
	}
	n.reg.HandleTreeEvent(peertree.Event{Kind: peertree.EventDead, Peer: id})
	if n.reg.Get(id[:]) != nil || len(n.reg.Lookup("crono", 10)) != 0 {
		t.Fatal("a dead node is still listed")
	}
	if err := n.reg.Accept(raw); !errors.Is(err, ErrStale) {
		t.Fatalf("replay after death: %v", err)
	}
	if err := n.reg.Accept(sealWire(t, other, validWire(other, now, 6), now)); err != nil {
		t.Fatalf("the node's next entry: %v", err)
	}
}
