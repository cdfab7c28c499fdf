package mail

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

const testNetwork = "mail-test"

func quietLogger() *slog.Logger {
	if os.Getenv("MAILDEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func nowMs() int64 { return time.Now().UnixMilli() }

func newKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tnode is one test node on 127.0.0.1: QUIC transport, registry (the
// membership view), shard cell and files cell, each with real data dirs.
type tnode struct {
	key   ed25519.PrivateKey
	tr    *transport.Transport
	reg   *registry.Registry
	shard *shard.Cell
	mail  *Cell
	rts   []*cell.Runtime
	once  sync.Once
}

func (n *tnode) pub() ed25519.PublicKey { return n.key.Public().(ed25519.PublicKey) }

func (n *tnode) member() peertree.Member {
	var id peertree.NodeID
	copy(id[:], n.pub())
	return peertree.Member{ID: id, Addr: n.tr.Addr().String()}
}

func (n *tnode) target() cell.Target { return cell.Target{Key: n.pub(), Addr: n.tr.Addr().String()} }

// kill stops the node abruptly: the transport closes under running
// requests and nothing says goodbye.
func (n *tnode) kill() {
	n.once.Do(func() {
		n.tr.Close()
		n.mail.Close()
		n.shard.Close()
		n.reg.Close()
		for _, rt := range n.rts {
			rt.Close()
		}
	})
}

func startNode(t testing.TB, contacts ...*tnode) *tnode {
	t.Helper()
	key := newKey(t)
	tr, err := transport.Listen(transport.Config{Key: key, ListenAddr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	host := cell.Host{Key: key, Network: testNetwork, Transport: tr, Now: nowMs, Logger: quietLogger(),
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: nowMs})}
	tree := peertree.Config{Heartbeat: testHeartbeat, MergeProbe: 10 * testHeartbeat}
	reg, err := registry.New(registry.Config{Host: host, Interval: testInterval, TTL: testTTL, Tree: tree,
		Cells: func() []registry.CellRef {
			return []registry.CellRef{{Name: "registry", Version: 1}, {Name: shard.DNA.Name, Version: shard.DNA.Version}, {Name: DNA.Name, Version: DNA.Version}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	var opts cell.Options
	for _, c := range contacts {
		opts.Contacts = append(opts.Contacts, c.member())
	}
	n := &tnode{key: key, tr: tr, reg: reg}
	start := func(typ cell.Type) *cell.Runtime {
		typ.Tree = tree
		rt, err := cell.Start(host, typ, opts)
		if err != nil {
			t.Fatal(err)
		}
		n.rts = append(n.rts, rt)
		return rt
	}
	if err := reg.Attach(start(reg.Type())); err != nil {
		t.Fatal(err)
	}
	if n.shard, err = shard.New(shard.Config{Host: host, Dir: t.TempDir(), Members: shard.RegistryMembers(reg), ScrubInterval: testScrub, CallTimeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := n.shard.Attach(start(n.shard.Type())); err != nil {
		t.Fatal(err)
	}
	if n.mail, err = New(Config{Host: host, Dir: t.TempDir(), Members: RegistryMembers(reg), SyncInterval: testSync, CallTimeout: 5 * time.Second, Difficulty: testDifficulty}); err != nil {
		t.Fatal(err)
	}
	if err := n.mail.Attach(start(n.mail.Type())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.kill)
	return n
}

func startNetwork(t testing.TB, size int) []*tnode {
	t.Helper()
	nodes := []*tnode{startNode(t)}
	for i := 1; i < size; i++ {
		nodes = append(nodes, startNode(t, nodes[0], nodes[i-1]))
	}
	waitMembers(t, nodes, size)
	return nodes
}

// waitMembers waits until every node's files view lists exactly want
// members.
func waitMembers(t testing.TB, nodes []*tnode, want int) {
	t.Helper()
	waitFor(t, 120*time.Second, func() bool {
		for _, n := range nodes {
			ms, _ := RegistryMembers(n.reg).Members(context.Background())
			sms, _ := shard.RegistryMembers(n.reg).Members(context.Background())
			if len(ms) != want || len(sms) != want {
				return false
			}
		}
		return true
	}, "every node sees %d members", want)
}

func waitFor(t testing.TB, limit time.Duration, cond func() bool, what string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until "+what, append([]any{limit}, args...)...)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newClient is a conduit: its own transport, the account key for
// requests, and registries of the network for its membership views.
func newClient(t testing.TB, k *identity.Keys, regs ...*tnode) *Client {
	t.Helper()
	tr, err := transport.Listen(transport.Config{Key: newKey(t), ListenAddr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	call := &cell.Client{Transport: tr, Key: k.Account, Network: testNetwork, Now: nowMs,
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: nowMs})}
	var targets []cell.Target
	for _, n := range regs {
		targets = append(targets, n.target())
	}
	c, err := NewClient(ClientConfig{Call: call, Keys: k, Members: RemoteMembers(call, targets),
		ShardMembers: shard.RemoteMembers(call, targets), Difficulty: testDifficulty, CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testKeys(t testing.TB) *identity.Keys {
	t.Helper()
	k, _ := keysFor(t)
	return k
}
