package ledgercell

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

const testNetwork = "ledger-test"

func quietLogger() *slog.Logger {
	if os.Getenv("LEDGERDEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// clockOffset moves the whole test network's clock (nodes' network time
// and clients' alike), so a test can let a dispute window pass.
var clockOffset atomic.Int64

func nowMs() int64 { return time.Now().UnixMilli() + clockOffset.Load() }

// testKey derives a deterministic key, so child processes agree.
func testKey(label string, i int) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(fmt.Sprintf("ledgercell/%s/%d", label, i)))
	return ed25519.NewKeyFromSeed(seed[:])
}

func idOf(k ed25519.PrivateKey) ledger.AccountID {
	return ledger.AccountID(k.Public().(ed25519.PublicKey))
}

const (
	numWitnesses = 4
	userFunds    = 1_000 * ledger.MicroPerShell
)

// testGenesis: the 4 witness nodes' keys are the genesis witnesses (as
// DevGenesis makes them) and nUsers accounts hold userFunds each.
func testGenesis(tb testing.TB, nUsers int) *ledger.Genesis {
	tb.Helper()
	var ws []ed25519.PublicKey
	for i := range numWitnesses {
		ws = append(ws, testKey("witness", i).Public().(ed25519.PublicKey))
	}
	var allocs []ledger.Allocation
	for i := range nUsers {
		allocs = append(allocs, ledger.Allocation{Account: idOf(testKey("user", i)), Amount: userFunds})
	}
	g, err := DevGenesis(ws, allocs...)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// ownGenesis parses the genesis again, as another process would: each node
// and client then has its own cache of verified witness signatures, so
// tests and benchmarks in one process do not share checks that separate
// machines could not.
func ownGenesis(tb testing.TB, g *ledger.Genesis) *ledger.Genesis {
	tb.Helper()
	js, err := json.Marshal(g)
	if err != nil {
		tb.Fatal(err)
	}
	own, err := ledger.ParseGenesis(js)
	if err != nil || own.Hash() != g.Hash() {
		tb.Fatalf("genesis does not parse back to itself: %v", err)
	}
	return own
}

// tnode is one real node running the ledger cell on QUIC at 127.0.0.1.
type tnode struct {
	name string
	key  ed25519.PrivateKey
	addr string
	tr   *transport.Transport
	rt   *cell.Runtime
	c    *Cell
	up   bool
}

func (n *tnode) target() cell.Target {
	return cell.Target{Key: n.key.Public().(ed25519.PublicKey), Addr: n.addr}
}

func (n *tnode) member() peertree.Member {
	var id peertree.NodeID
	copy(id[:], n.key.Public().(ed25519.PublicKey))
	return peertree.Member{ID: id, Addr: n.addr}
}

// testNet is 4 witness nodes (bbolt files in a temp dir) plus observers.
type testNet struct {
	t     testing.TB
	g     *ledger.Genesis
	dir   string
	nodes []*tnode // witnesses first
	mu    sync.Mutex
}

func newTestNet(t testing.TB, observers, users int) *testNet {
	t.Helper()
	n := &testNet{t: t, g: testGenesis(t, users), dir: t.TempDir()}
	for i := range numWitnesses {
		n.nodes = append(n.nodes, &tnode{name: fmt.Sprintf("w%d", i), key: testKey("witness", i), addr: "127.0.0.1:0"})
	}
	for i := range observers {
		n.nodes = append(n.nodes, &tnode{name: fmt.Sprintf("o%d", i), key: testKey("observer", i), addr: "127.0.0.1:0"})
	}
	for i := range n.nodes {
		n.start(i)
	}
	t.Cleanup(func() {
		for i := range n.nodes {
			n.stop(i)
		}
	})
	n.waitTree()
	return n
}

func (n *testNet) start(i int) {
	t := n.t
	t.Helper()
	nd := n.nodes[i]
	var tr *transport.Transport
	var err error
	for try := 0; try < 50; try++ {
		// A restarted node takes its old port back, so clients that
		// pinned its endpoint find it again.
		tr, err = transport.Listen(transport.Config{Key: nd.key, ListenAddr: nd.addr, Logger: quietLogger()})
		if err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	nd.addr = tr.Addr().String()
	host := cell.Host{Key: nd.key, Network: testNetwork, Transport: tr, Now: nowMs, Logger: quietLogger().With("node", nd.name),
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: nowMs})}
	cfg := Config{Host: host, Genesis: ownGenesis(t, n.g), StorePath: filepath.Join(n.dir, nd.name+".db"),
		Witnesses:    func(context.Context) ([]cell.Target, error) { return n.witnessTargets(), nil },
		Tree:         peertree.Config{Heartbeat: 100 * time.Millisecond, MergeProbe: time.Second},
		SyncInterval: 500 * time.Millisecond, CallTimeout: 3 * time.Second,
		BindingPath: filepath.Join(n.dir, nd.name+".binding")}
	var opts cell.Options
	for j, o := range n.nodes {
		if j != i && o.up {
			opts.Contacts = append(opts.Contacts, o.member())
		}
	}
	c, rt, err := Start(cfg, opts)
	if err != nil {
		tr.Close()
		t.Fatal(err)
	}
	n.mu.Lock()
	nd.tr, nd.rt, nd.c, nd.up = tr, rt, c, true
	n.mu.Unlock()
}

// stop kills a node abruptly: its peers just stop hearing from it.
func (n *testNet) stop(i int) {
	nd := n.nodes[i]
	n.mu.Lock()
	up := nd.up
	nd.up = false
	n.mu.Unlock()
	if !up {
		return
	}
	nd.tr.Close()
	nd.rt.Close()
	nd.c.Close()
}

// caller is a request client speaking as node i (its key and transport).
func (n *testNet) caller(i int) *cell.Client {
	nd := n.nodes[i]
	return &cell.Client{Transport: nd.tr, Key: nd.key, Network: testNetwork, Now: nowMs,
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: nowMs})}
}

// resolve finds a node of the net by key, as the registry would.
func (n *testNet) resolve(_ context.Context, key ed25519.PublicKey) (cell.Target, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, nd := range n.nodes {
		if nd.up && nd.key.Public().(ed25519.PublicKey).Equal(key) {
			return nd.target(), nil
		}
	}
	return cell.Target{}, ErrUnknownNode
}

func (n *testNet) witnessTargets() []cell.Target {
	n.mu.Lock()
	defer n.mu.Unlock()
	var ts []cell.Target
	for _, nd := range n.nodes[:numWitnesses] {
		ts = append(ts, nd.target())
	}
	return ts
}

func (n *testNet) live() []*tnode {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*tnode
	for _, nd := range n.nodes {
		if nd.up {
			out = append(out, nd)
		}
	}
	return out
}

func (n *testNet) waitTree() {
	n.t.Helper()
	live := n.live()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, nd := range live {
			if v := nd.rt.View(); v.Size != len(live) || v.Position < 1 {
				ok = false
			}
		}
		if ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.t.Fatalf("no tree of %d formed", len(live))
}

// settle waits until every live node holds the same certificates with none
// pending, and checks conservation (the supply is exactly 20,000,000
// shells) on each.
func (n *testNet) settle() int {
	n.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		lens := map[int]bool{}
		pending := 0
		last = ""
		for _, nd := range n.live() {
			nd.c.View(func(l *ledger.Ledger) {
				lens[l.Len()] = true
				pending += l.Pending()
				last += fmt.Sprintf(" %s:%d/%d", nd.name, l.Len(), l.Pending())
			})
		}
		if len(lens) == 1 && pending == 0 {
			var total int
			for k := range lens {
				total = k
			}
			for _, nd := range n.live() {
				nd.c.View(func(l *ledger.Ledger) {
					if err := l.CheckConservation(); err != nil {
						n.t.Fatalf("%s: %v", nd.name, err)
					}
					if s, _ := l.Supply(); s != 20_000_000*ledger.MicroPerShell {
						n.t.Fatalf("%s: supply %s", nd.name, s)
					}
				})
			}
			return total
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.t.Fatalf("nodes did not converge:%s", last)
	return 0
}

// client is a conduit-like client for user i: its own transport, the
// user's account key signing requests and blocks.
func (n *testNet) client(i int) *Client {
	n.t.Helper()
	_, trKey, _ := ed25519.GenerateKey(nil)
	tr, err := transport.Listen(transport.Config{Key: trKey, ListenAddr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		n.t.Fatal(err)
	}
	caller := &cell.Client{Transport: tr, Key: testKey("user", i), Network: testNetwork, Now: nowMs,
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: nowMs})}
	c := NewClient(ClientConfig{Genesis: ownGenesis(n.t, n.g), Caller: caller,
		Witnesses: func(context.Context) ([]cell.Target, error) { return n.witnessTargets(), nil },
		Timeout:   20 * time.Second})
	n.t.Cleanup(func() { c.Close(); tr.Close() })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	return ctx
}
