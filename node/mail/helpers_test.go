package mail

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/cell/celltest"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
)

const testNetwork = "mail-test"

// testCall bounds one request: generous, since CI runs many packages'
// tests at once under the race detector.
var testCall = celltest.Scale(5 * time.Second)

func nowMs() int64 { return celltest.NowMs() }

func newKey(t testing.TB) ed25519.PrivateKey { return celltest.NewKey(t) }

// tnode is one test node on 127.0.0.1: a celltest node running the
// registry (the membership view), the shard cell and the mail cell, each
// with real data dirs.
type tnode struct {
	*celltest.Node
	reg   *registry.Registry
	regRT *cell.Runtime
	shard *shard.Cell
	mail  *Cell
}

func (n *tnode) pub() ed25519.PublicKey { return n.Pub() }

func (n *tnode) target() cell.Target { return n.Target() }

// kill stops the node abruptly: the transport closes under running
// requests and nothing says goodbye.
func (n *tnode) kill() { n.Kill() }

func newNet(t testing.TB) *celltest.Network {
	return celltest.New(t, celltest.Config{Network: testNetwork, DebugEnv: "MAILDEBUG",
		Tree: peertree.Config{Heartbeat: testHeartbeat, MergeProbe: 10 * testHeartbeat}})
}

func startNode(t testing.TB, net *celltest.Network, contacts ...*tnode) *tnode {
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
	n.reg, n.regRT = reg, n.Start(reg.Type())
	if err := reg.Attach(n.regRT); err != nil {
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
	if n.mail, err = New(Config{Host: n.Host, Dir: t.TempDir(), Members: RegistryMembers(reg), SyncInterval: testSync, CallTimeout: testCall, Difficulty: testDifficulty}); err != nil {
		t.Fatal(err)
	}
	if err := n.mail.Attach(n.Start(n.mail.Type())); err != nil {
		t.Fatal(err)
	}
	n.OnKill(n.mail.Close)
	return n
}

// startNetwork starts size nodes, each joining through the first and the
// previous one, and waits only until the registry tree is connected:
// every node's mail view lists at least itself and one other. Tests wait
// for what they really need (waitHolders) rather than for every view to
// list every node at one instant, which a starved node under -race on a
// loaded machine can keep from ever holding.
func startNetwork(t testing.TB, size int) []*tnode {
	t.Helper()
	net := newNet(t)
	nodes := []*tnode{startNode(t, net)}
	for i := 1; i < size; i++ {
		nodes = append(nodes, startNode(t, net, nodes[0], nodes[i-1]))
	}
	return nodes
}

// holders are the live test nodes that should keep account's mailbox:
// the top k by rendezvous hashing over every live node.
func holdersOf(nodes []*tnode, account ed25519.PublicKey) []*tnode {
	var all []shard.Member
	for _, n := range nodes {
		if !n.Killed() {
			all = append(all, shard.Member{Key: n.pub(), Addr: n.Addr()})
		}
	}
	var out []*tnode
	for _, m := range shard.Holders(MailboxID(account), all, shard.DefaultK) {
		for _, n := range nodes {
			if n.pub().Equal(m.Key) {
				out = append(out, n)
			}
		}
	}
	return out
}

// waitHolders waits until the mail views that matter rank the true
// holders of each account's mailbox on top: the registries the test's
// clients ask (clients) and the holders themselves (their sync). Other
// nodes' views, and nodes missing from a view below the holders, do not
// matter: waiting for every view to list every node at one instant is
// what a starved node under -race can keep from ever happening.
func waitHolders(t testing.TB, nodes, clients []*tnode, accounts ...ed25519.PublicKey) {
	t.Helper()
	var last string
	celltest.Eventually(t, 0, func() bool {
		for _, acct := range accounts {
			want := holdersOf(nodes, acct)
			views := append(slices.Clone(clients), want...)
			for _, v := range views {
				if v.Killed() {
					continue
				}
				ms, _ := RegistryMembers(v.reg).Members(context.Background())
				got := shard.Holders(MailboxID(acct), ms, shard.DefaultK)
				ok := len(got) == len(want)
				for i := 0; ok && i < len(got); i++ {
					ok = got[i].Key.Equal(want[i].pub())
				}
				if !ok {
					last = viewsOf(nodes)
					return false
				}
			}
		}
		return true
	}, "the views agree on the mailbox holders (last: %v)", celltest.Lazy(func() string { return last }))
}

// viewsOf describes every node's mail view and registry tree, by node
// number, for failure messages.
func viewsOf(nodes []*tnode) string {
	num := func(k ed25519.PublicKey) string {
		for j, o := range nodes {
			if o.pub().Equal(k) {
				return fmt.Sprint(j)
			}
		}
		return "?"
	}
	out := ""
	for i, n := range nodes {
		if n.Killed() {
			out += fmt.Sprintf("%d: killed; ", i)
			continue
		}
		ms, _ := RegistryMembers(n.reg).Members(context.Background())
		s := ""
		for _, m := range ms {
			s += num(m.Key)
		}
		v := n.regRT.View()
		out += fmt.Sprintf("%d: view [%s] tree %s pos %d size %d root %.8s; ", i, s, v.Status, v.Position, v.Size, v.Root.Key)
	}
	return out
}

// waitShards waits until the shard views of views list at least k nodes,
// so an attachment can be placed.
func waitShards(t testing.TB, views []*tnode, k int) {
	t.Helper()
	celltest.Eventually(t, 0, func() bool {
		for _, v := range views {
			if ms, _ := shard.RegistryMembers(v.reg).Members(context.Background()); len(ms) < k {
				return false
			}
		}
		return true
	}, "the shard views list %d nodes", k)
}

func waitFor(t testing.TB, limit time.Duration, cond func() bool, what string, args ...any) {
	t.Helper()
	celltest.Eventually(t, limit, cond, what, args...)
}

// clientOptions tune newClientWith.
type clientOptions struct {
	// clock is the client's network time for prekeys (default the system
	// clock); the request envelopes always carry the real time.
	clock func() int64
}

// newClient is a conduit: its own transport, the account key for
// requests, and registries of the network for its membership views.
func newClient(t testing.TB, k *identity.Keys, regs ...*tnode) *Client {
	return newClientWith(t, k, clientOptions{}, regs...)
}

func newClientWith(t testing.TB, k *identity.Keys, o clientOptions, regs ...*tnode) *Client {
	t.Helper()
	call := celltest.New(t, celltest.Config{Network: testNetwork}).Client(k.Account)
	var targets []cell.Target
	for _, n := range regs {
		targets = append(targets, n.target())
	}
	c, err := NewClient(ClientConfig{Call: call, Keys: k, Members: RemoteMembers(call, targets),
		ShardMembers: shard.RemoteMembers(call, targets), Difficulty: testDifficulty, CallTimeout: testCall, Clock: o.clock})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testKeys(t testing.TB) *identity.Keys { return celltest.Keys(t) }
