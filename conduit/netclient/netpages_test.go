package netclient

import (
	"bytes"
	"context"
	"encoding/hex"
	"math"
	"testing"
	"time"

	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/registry"
)

// TestTreeTrafficClock runs the Network page's data against three real
// nodes: the registry tree assembled from the nodes' own answers (one
// root, every node once), the clock offset against a node on this same
// computer (near zero), and byte counts for the endpoints the pool used.
func TestTreeTrafficClock(t *testing.T) {
	nodes := startNetwork(t, 3)
	p := newPool(t, Config{Bootstrap: []node.Contact{nodes[0].Contact()}})
	waitLive(t, p, registry.DNA.Name, 3)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var tr Tree
	waitFor(t, 90*time.Second, "a tree of three nodes with one root", func() bool {
		tr = p.Tree(ctx, registry.DNA, 0, 0)
		roots := 0
		for _, n := range tr.Nodes {
			if n.Parent.Key == "" && n.Position == 1 {
				roots++
			}
		}
		return len(tr.Nodes) == 3 && roots == 1
	})
	keys := map[string]bool{}
	for _, n := range tr.Nodes {
		keys[n.Node.Key] = true
	}
	for _, nd := range nodes {
		if !keys[hex.EncodeToString(nd.PublicKey())] {
			t.Fatalf("node %x missing from the tree", nd.PublicKey()[:4])
		}
	}
	if lim := p.Tree(ctx, registry.DNA, 1, 0); len(lim.Nodes) > 1 || !lim.Truncated {
		t.Fatalf("a crawl limited to 1 node: %d nodes, truncated %v", len(lim.Nodes), lim.Truncated)
	}

	off, err := p.MeasureClock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Same computer, same clock: the offset is within the round trip
	// plus what the node's own clock discipline may have slewed.
	if math.Abs(off.OffsetMs) > off.RTTMs+1000 || off.Node == "" {
		t.Fatalf("clock offset against a local node: %+v", off)
	}
	st := p.Status()
	// The background loop measures too and may pick another node's
	// sample (the one with the shortest round trip wins).
	if st.Clock == nil || st.Clock.Node == "" || st.Clock.Agreeing < 2 {
		t.Fatalf("status clock %+v", st.Clock)
	}
	var used, inUse int
	for _, e := range st.Endpoints {
		if e.Sent > 0 && e.Received > 0 {
			used++
		}
		if len(e.InUse) > 0 {
			inUse++
		}
	}
	if used == 0 || inUse == 0 {
		t.Fatalf("no traffic or no endpoint in use in %+v", st.Endpoints)
	}
}

// TestTrafficRates checks the rate arithmetic on a virtual clock: a
// burst shows as bytes per second, and an idle node decays to zero.
func TestTrafficRates(t *testing.T) {
	tr := newTraffic()
	k := bytes.Repeat([]byte{1}, 32)
	t0 := time.Unix(1000, 0)
	tr.Add(k, 10, 0)
	tr.sample(t0)
	tr.Add(k, 2000, 4000)
	tr.sample(t0.Add(time.Second))
	g := tr.get(string(k))
	if g.Sent != 2010 || g.Received != 4000 || g.UpRate != 1000 || g.DownRate != 2000 {
		t.Fatalf("after a burst: %+v", g)
	}
	for i := 2; i < 20; i++ {
		tr.sample(t0.Add(time.Duration(i) * time.Second))
	}
	if g := tr.get(string(k)); g.UpRate != 0 || g.DownRate != 0 {
		t.Fatalf("idle rates do not decay to zero: %+v", g)
	}
}
