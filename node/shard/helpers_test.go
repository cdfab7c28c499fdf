package shard

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

const testNetwork = "shard-test"

func quietLogger() *slog.Logger {
	if os.Getenv("SHARDDEBUG") != "" {
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

// tnode is one node of a test network: QUIC transport on 127.0.0.1, a
// registry cell (the membership view) and a shard cell with its data dir.
type tnode struct {
	key     ed25519.PrivateKey
	tr      *transport.Transport
	reg     *registry.Registry
	regRT   *cell.Runtime
	shard   *Cell
	shardRT *cell.Runtime
	dir     string
	once    sync.Once
}

func (n *tnode) member() peertree.Member {
	var id peertree.NodeID
	copy(id[:], n.key.Public().(ed25519.PublicKey))
	return peertree.Member{ID: id, Addr: n.tr.Addr().String()}
}

func (n *tnode) pub() ed25519.PublicKey { return n.key.Public().(ed25519.PublicKey) }

func (n *tnode) target() cell.Target { return cell.Target{Key: n.pub(), Addr: n.tr.Addr().String()} }

// kill stops the node abruptly, in process: the transport closes under
// running requests, nothing says goodbye, and its data dir stays as it
// was. (A process-level kill -9 test belongs to the node assembly.)
func (n *tnode) kill() {
	n.once.Do(func() {
		n.tr.Close()
		n.shard.Close()
		n.reg.Close()
		n.shardRT.Close()
		n.regRT.Close()
	})
}

type nodeOpts struct {
	scrub    time.Duration
	quota    int64
	maxReads int
	readHook func(ReadFunc) ReadFunc
	// onAudit gets each node's audit events with the auditing node's key.
	onAudit func(auditor ed25519.PublicKey, e AuditEvent)
}

func startNode(t testing.TB, o nodeOpts, contacts ...*tnode) *tnode {
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
			return []registry.CellRef{{Name: "registry", Version: 1}, {Name: DNA.Name, Version: DNA.Version}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	var opts cell.Options
	for _, c := range contacts {
		opts.Contacts = append(opts.Contacts, c.member())
	}
	regRT, err := cell.Start(host, reg.Type(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Attach(regRT); err != nil {
		t.Fatal(err)
	}
	if o.scrub == 0 {
		o.scrub = time.Hour
	}
	dir := t.TempDir()
	var onAudit func(AuditEvent)
	if o.onAudit != nil {
		onAudit = func(e AuditEvent) { o.onAudit(key.Public().(ed25519.PublicKey), e) }
	}
	sc, err := New(Config{Host: host, Dir: dir, Members: RegistryMembers(reg), ScrubInterval: o.scrub, Quota: o.quota, CallTimeout: testCallTimeout,
		MaxReads: o.maxReads, ReadHook: o.readHook, OnAudit: onAudit})
	if err != nil {
		t.Fatal(err)
	}
	typ := sc.Type()
	typ.Tree = tree
	shardRT, err := cell.Start(host, typ, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Attach(shardRT); err != nil {
		t.Fatal(err)
	}
	n := &tnode{key: key, tr: tr, reg: reg, regRT: regRT, shard: sc, shardRT: shardRT, dir: dir}
	t.Cleanup(n.kill)
	return n
}

func startNetwork(t testing.TB, size int, o nodeOpts) []*tnode {
	t.Helper()
	nodes := []*tnode{startNode(t, o)}
	for i := 1; i < size; i++ {
		nodes = append(nodes, startNode(t, o, nodes[0], nodes[i-1]))
	}
	waitMembers(t, nodes, size)
	return nodes
}

// waitMembers waits until every node's view lists exactly want members.
func waitMembers(t testing.TB, nodes []*tnode, want int) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		ok := true
		for _, n := range nodes {
			ms, _ := RegistryMembers(n.reg).Members(context.Background())
			if len(ms) != want {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for i, n := range nodes {
				ms, _ := RegistryMembers(n.reg).Members(context.Background())
				v := n.regRT.View()
				t.Logf("node %d: %d members; registry tree %s pos %d size %d; shard tree pos %d size %d", i, len(ms), v.Status, v.Position, v.Size, n.shardRT.View().Position, n.shardRT.View().Size)
			}
			t.Fatalf("views never settled at %d members", want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// person is a client with its own account key and file root.
type person struct {
	key    ed25519.PrivateKey
	root   [32]byte
	call   *cell.Client
	client *Client
}

func newPerson(t testing.TB, via ...*tnode) *person {
	t.Helper()
	tr, err := transport.Listen(transport.Config{Key: newKey(t), ListenAddr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	p := &person{key: newKey(t)}
	rand.Read(p.root[:])
	p.call = &cell.Client{Transport: tr, Key: p.key, Network: testNetwork, Now: nowMs,
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: nowMs})}
	p.client, err = NewClient(ClientConfig{Call: p.call, FileRoot: &p.root, CallTimeout: testCallTimeout,
		Members: RemoteMembers(p.call, targets(via))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// holdersOf returns the live nodes whose store holds a good-looking copy.
func holdersOf(nodes []*tnode, id ID) []*tnode {
	var out []*tnode
	for _, n := range nodes {
		if n.shard.Store().Has(id) {
			out = append(out, n)
		}
	}
	return out
}

func nodeByKey(nodes []*tnode, key ed25519.PublicKey) *tnode {
	for _, n := range nodes {
		if n.pub().Equal(key) {
			return n
		}
	}
	panic(fmt.Sprintf("no node %x", key[:4]))
}

func targets(nodes []*tnode) []cell.Target {
	var out []cell.Target
	for _, n := range nodes {
		out = append(out, n.target())
	}
	return out
}
