package files

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/cell/celltest"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
)

const testNetwork = "files-test"

// testCall bounds one request: generous, since CI runs many packages'
// tests at once under the race detector.
var testCall = celltest.Scale(5 * time.Second)

func nowMs() int64 { return celltest.NowMs() }

func newKey(t testing.TB) ed25519.PrivateKey { return celltest.NewKey(t) }

// tnode is one test node on 127.0.0.1: a celltest node running the
// registry (the membership view), the shard cell and the files cell, each
// with real data dirs.
type tnode struct {
	*celltest.Node
	reg   *registry.Registry
	shard *shard.Cell
	files *Cell
}

// kill stops the node abruptly.
func (n *tnode) kill() { n.Kill() }

func (n *tnode) pub() ed25519.PublicKey { return n.Pub() }

func (n *tnode) target() cell.Target { return n.Target() }

func newNet(t testing.TB) *celltest.Network {
	return celltest.New(t, celltest.Config{Network: testNetwork, DebugEnv: "FILESDEBUG",
		Tree: peertree.Config{Heartbeat: testHeartbeat, MergeProbe: 10 * testHeartbeat}})
}

// startNode starts a node with the registry, shard and files cells; sync
// tunes the files cell's sync interval (testSync when zero).
func startNode(t testing.TB, net *celltest.Network, sync time.Duration, contacts ...*tnode) *tnode {
	t.Helper()
	var cs []*celltest.Node
	for _, c := range contacts {
		cs = append(cs, c.Node)
	}
	n := &tnode{Node: net.Add(cs...)}
	reg, err := registry.New(registry.Config{Host: n.Host, Interval: testInterval, TTL: testTTL, Tree: net.Tree(),
		Cells: func() []registry.CellRef {
			return []registry.CellRef{{Name: "registry", Version: 1}, {Name: shard.DNA.Name, Version: shard.DNA.Version}, {Name: DNA.Name, Version: DNA.Version}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	n.reg = reg
	if err := reg.Attach(n.Start(reg.Type())); err != nil {
		t.Fatal(err)
	}
	n.OnKill(reg.Close)
	if n.shard, err = shard.New(shard.Config{Host: n.Host, Dir: t.TempDir(), Members: shard.RegistryMembers(reg), ScrubInterval: testScrub, CallTimeout: testCall}); err != nil {
		t.Fatal(err)
	}
	if err := n.shard.Attach(n.Start(n.shard.Type())); err != nil {
		t.Fatal(err)
	}
	n.OnKill(n.shard.Close)
	if sync == 0 {
		sync = testSync
	}
	if n.files, err = New(Config{Host: n.Host, Dir: t.TempDir(), Members: RegistryMembers(reg), SyncInterval: sync, CallTimeout: testCall}); err != nil {
		t.Fatal(err)
	}
	if err := n.files.Attach(n.Start(n.files.Type())); err != nil {
		t.Fatal(err)
	}
	n.OnKill(n.files.Close)
	return n
}

func startNetwork(t testing.TB, size int) []*tnode {
	return startNetworkSync(t, size, 0)
}

func startNetworkSync(t testing.TB, size int, sync time.Duration) []*tnode {
	t.Helper()
	net := newNet(t)
	nodes := []*tnode{startNode(t, net, sync)}
	for i := 1; i < size; i++ {
		nodes = append(nodes, startNode(t, net, sync, nodes[0], nodes[i-1]))
	}
	waitMembers(t, nodes, size)
	return nodes
}

// waitMembers waits until every node's files view lists exactly want
// members.
func waitMembers(t testing.TB, nodes []*tnode, want int) {
	t.Helper()
	var last string
	celltest.Eventually(t, 0, func() bool {
		for i, n := range nodes {
			ms, _ := RegistryMembers(n.reg).Members(context.Background())
			sms, _ := shard.RegistryMembers(n.reg).Members(context.Background())
			if len(ms) != want || len(sms) != want {
				last = fmt.Sprintf("node %d sees %d files and %d shard members", i, len(ms), len(sms))
				return false
			}
		}
		return true
	}, "every node sees %d members (last: %v)", want, celltest.Lazy(func() string { return last }))
}

func waitFor(t testing.TB, limit time.Duration, cond func() bool, what string, args ...any) {
	t.Helper()
	celltest.Eventually(t, limit, cond, what, args...)
}

func testKeys(t testing.TB) *identity.Keys { return celltest.Keys(t) }

// newClient is a conduit: its own transport and key for the connection,
// the account key for requests, and registries of the network for its
// membership views.
func newClient(t testing.TB, k *identity.Keys, regs ...*tnode) *Client {
	t.Helper()
	var targets []cell.Target
	for _, n := range regs {
		targets = append(targets, n.target())
	}
	return newClientWith(t, k, "", func(call *cell.Client) shard.Membership { return RemoteMembers(call, targets) },
		func(call *cell.Client) shard.Membership { return shard.RemoteMembers(call, targets) })
}

// newClientWith builds a conduit with chosen views of the files and shard
// cells (a partition: a conduit that reaches only some nodes).
func newClientWith(t testing.TB, k *identity.Keys, device string, files, shards func(*cell.Client) shard.Membership) *Client {
	t.Helper()
	net := celltest.New(t, celltest.Config{Network: testNetwork})
	call := net.Client(k.Account)
	sc, err := shard.NewClient(shard.ClientConfig{Call: call, FileRoot: &k.FileRoot, Members: shards(call), CallTimeout: testCall})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(ClientConfig{Call: call, Shards: sc, Members: files(call), CallTimeout: testCall, Device: device})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
