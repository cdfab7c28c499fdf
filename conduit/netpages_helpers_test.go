package conduit

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/borgios/borgios/conduit/netclient"
	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/ledgercell"
	"github.com/borgios/borgios/node/store"
)

// netCells are the cells the Files and Wallet pages need.
var netCells = []string{"crono", "registry", "shard", "files", "ledger"}

// startNetwork starts n real nodes on 127.0.0.1 that share a dev genesis
// (the first up to four are its witnesses, as in borgios demo) giving
// allocs their shells, and a NetworkClient connected to them. It returns
// when the pool sees every node serve the files and ledger cells.
func startNetwork(t *testing.T, n int, allocs ...ledger.Allocation) *NetworkClient {
	t.Helper()
	return startCellNetwork(t, n, netCells, allocs...)
}

// startCellNetwork starts n real nodes running cells (sharing a dev genesis
// when they run the ledger) and a NetworkClient connected to them; it
// returns when the pool sees every node serve every cell but crono.
func startCellNetwork(t *testing.T, n int, cells []string, allocs ...ledger.Allocation) *NetworkClient {
	t.Helper()
	return startNetworkOpts(t, n, cells, netOpts{allocs: allocs})
}

// netOpts: owner, if set, is the account every node is bound to (an
// owner.binding in each data directory, so rewards pay it); nodes, if
// set, receives the started nodes.
type netOpts struct {
	allocs []ledger.Allocation
	owner  ed25519.PrivateKey
	nodes  *[]*node.Node
}

func startNetworkOpts(t *testing.T, n int, cells []string, o netOpts) *NetworkClient {
	t.Helper()
	allocs := o.allocs
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	base := t.TempDir()
	dir := func(i int) string { return filepath.Join(base, fmt.Sprintf("node%02d", i)) }
	// The node keys first, so the genesis can name the nodes as witnesses
	// and the owner can bind them.
	keys := make([]ed25519.PrivateKey, n)
	for i := range keys {
		db, err := store.Open(dir(i))
		if err != nil {
			t.Fatal(err)
		}
		keys[i], err = db.NodeKey()
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	var g *ledger.Genesis
	if slices.Contains(cells, ledgercell.DNA.Name) {
		var witnesses []ed25519.PublicKey
		for i := 0; i < n && i < 4; i++ {
			witnesses = append(witnesses, keys[i].Public().(ed25519.PublicKey))
		}
		var err error
		if g, err = ledgercell.DevGenesis(witnesses, allocs...); err != nil {
			t.Fatal(err)
		}
	}
	if o.owner != nil {
		for i, key := range keys {
			b := ledger.NewNodeBinding(g.Hash(), key, o.owner)
			if err := os.WriteFile(filepath.Join(dir(i), "owner.binding"), b.Encode(), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	var nodes []*node.Node
	t.Cleanup(func() {
		for i := len(nodes) - 1; i >= 0; i-- {
			nodes[i].Close()
		}
	})
	for i := 0; i < n; i++ {
		var peers []node.Contact
		if i > 0 {
			peers = append(peers, nodes[0].Contact())
		}
		nd, err := node.Start(context.Background(), node.Config{
			DataDir: dir(i), Listen: "127.0.0.1:0", Peers: peers, Cells: cells,
			TreeHeartbeat: 200 * time.Millisecond, Genesis: g, Logger: quiet,
		})
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		nodes = append(nodes, nd)
	}
	if o.nodes != nil {
		*o.nodes = nodes
	}
	var contacts []node.Contact
	for _, nd := range nodes {
		contacts = append(contacts, nd.Contact())
	}
	nc := &NetworkClient{}
	t.Cleanup(func() { nc.Close() })
	if err := nc.Connect(context.Background(), netclient.Config{
		Listen: "127.0.0.1:0", Bootstrap: contacts, Logger: quiet, RefreshInterval: time.Second,
		ProbeTimeout: 30 * time.Second,
	}); err != nil {
		t.Fatal(err)
	}
	p := nc.Pool()
	deadline := time.Now().Add(120 * time.Second)
	for {
		full := true
		for _, c := range cells {
			if c != "crono" && len(p.Endpoints(c)) < n {
				full = false
			}
		}
		if full {
			return nc
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pool never saw %d nodes of each cell: %+v", n, p.Status().Live)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// identityKey is a fresh account key, for a recipient.
func identityKey() (ed25519.PublicKey, ed25519.PrivateKey, error) { return ed25519.GenerateKey(nil) }
