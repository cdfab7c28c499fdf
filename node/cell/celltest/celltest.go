package celltest

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

// DebugEnv, when set in the environment, sends every node's debug log to
// stderr.
const DebugEnv = "CELLTEST_DEBUG"

// Config configures a test network. Zero fields take defaults.
type Config struct {
	// Network is the wire network ID (default "celltest").
	Network string
	// Tree tunes the PeerTree of every cell started with a zero Type.Tree
	// (default: heartbeat 100 ms, merge probe 1 s; three times slower
	// under the race detector).
	Tree peertree.Config
	// DebugEnv is an extra environment variable that turns on debug logs
	// (say "FILESDEBUG"); DebugEnv the constant always does.
	DebugEnv string
}

// Network is a set of real nodes of one test.
type Network struct {
	t   testing.TB
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	nodes []*Node
}

// New returns an empty network; every node it starts is killed by
// t.Cleanup.
func New(t testing.TB, cfg Config) *Network {
	if cfg.Network == "" {
		cfg.Network = "celltest"
	}
	if cfg.Tree.Heartbeat == 0 {
		cfg.Tree.Heartbeat = Scale(100 * time.Millisecond)
	}
	if cfg.Tree.MergeProbe == 0 {
		cfg.Tree.MergeProbe = 10 * cfg.Tree.Heartbeat
	}
	return &Network{t: t, cfg: cfg, log: Logger(cfg.DebugEnv)}
}

// Name is the wire network ID.
func (net *Network) Name() string { return net.cfg.Network }

// Tree is the PeerTree tuning cells get by default.
func (net *Network) Tree() peertree.Config { return net.cfg.Tree }

// Logger is the network's logger (quiet unless a debug variable is set).
func (net *Network) Logger() *slog.Logger { return net.log }

// Nodes lists the nodes started so far, killed ones included.
func (net *Network) Nodes() []*Node {
	net.mu.Lock()
	defer net.mu.Unlock()
	return slices.Clone(net.nodes)
}

// NodeOptions tune one node. Zero fields take defaults.
type NodeOptions struct {
	// Key is the node's key (default: a new random one).
	Key ed25519.PrivateKey
	// Now is the node's network time in Unix ms, for its envelopes and
	// its verifier (default: the system clock).
	Now func() int64
	// ListenAddr is the UDP address (default "127.0.0.1:0").
	ListenAddr string
}

// Node is one node: a key, a QUIC transport on 127.0.0.1, a verifier, and
// the cells the test starts on it.
type Node struct {
	// Key is the node's private key.
	Key ed25519.PrivateKey
	// Transport is the node's one QUIC endpoint.
	Transport *transport.Transport
	// Host is what cells of this node are given.
	Host cell.Host

	net      *Network
	contacts []peertree.Member

	mu      sync.Mutex
	closers []func()
	killed  bool
}

// Add starts a node that joins every cell's tree through contacts.
func (net *Network) Add(contacts ...*Node) *Node { return net.AddWith(NodeOptions{}, contacts...) }

// AddWith starts a node with options.
func (net *Network) AddWith(o NodeOptions, contacts ...*Node) *Node {
	t := net.t
	t.Helper()
	if o.Key == nil {
		o.Key = NewKey(t)
	}
	if o.Now == nil {
		o.Now = NowMs
	}
	if o.ListenAddr == "" {
		o.ListenAddr = "127.0.0.1:0"
	}
	tr, err := transport.Listen(transport.Config{Key: o.Key, ListenAddr: o.ListenAddr, Logger: net.log})
	if err != nil {
		t.Fatalf("celltest: listen: %v", err)
	}
	n := &Node{
		Key:       o.Key,
		Transport: tr,
		Host: cell.Host{Key: o.Key, Network: net.cfg.Network, Transport: tr, Now: o.Now, Logger: net.log,
			Verifier: wire.NewVerifier(wire.Config{Network: net.cfg.Network, Now: o.Now})},
		net: net,
	}
	for _, c := range contacts {
		n.contacts = append(n.contacts, c.Member())
	}
	net.mu.Lock()
	net.nodes = append(net.nodes, n)
	net.mu.Unlock()
	t.Cleanup(n.Kill)
	return n
}

// Pub is the node's public key.
func (n *Node) Pub() ed25519.PublicKey { return n.Key.Public().(ed25519.PublicKey) }

// Addr is the node's UDP address.
func (n *Node) Addr() string { return n.Transport.Addr().String() }

// Target addresses a request to this node.
func (n *Node) Target() cell.Target { return cell.Target{Key: n.Pub(), Addr: n.Addr()} }

// Member is the node as a tree contact.
func (n *Node) Member() peertree.Member {
	var id peertree.NodeID
	copy(id[:], n.Pub())
	return peertree.Member{ID: id, Addr: n.Addr()}
}

// Options are the runtime options with the node's contacts.
func (n *Node) Options() cell.Options {
	return cell.Options{Contacts: slices.Clone(n.contacts)}
}

// Start runs a cell type on the node (with the network's tree tuning when
// typ.Tree is zero); the runtime is closed when the node is killed.
func (n *Node) Start(typ cell.Type) *cell.Runtime {
	t := n.net.t
	t.Helper()
	if typ.Tree == (peertree.Config{}) {
		typ.Tree = n.net.cfg.Tree
	}
	rt, err := cell.Start(n.Host, typ, n.Options())
	if err != nil {
		t.Fatalf("celltest: start cell %s: %v", typ.DNA.Name, err)
	}
	n.OnKill(rt.Close)
	return rt
}

// OnKill registers f to run when the node is killed, after its transport
// is closed; the last registered runs first.
func (n *Node) OnKill(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.killed {
		f()
		return
	}
	n.closers = append(n.closers, f)
}

// Kill stops the node abruptly: the transport closes under running
// requests and nothing says goodbye; then every OnKill function runs.
// Killing twice is harmless.
func (n *Node) Kill() {
	n.mu.Lock()
	if n.killed {
		n.mu.Unlock()
		return
	}
	n.killed = true
	closers := n.closers
	n.closers = nil
	n.mu.Unlock()
	n.Transport.Close()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

// Killed reports whether the node was killed.
func (n *Node) Killed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.killed
}

// Client returns a request client that signs with key (a person's account
// key, say) over a transport of its own, like a conduit; the transport is
// closed by t.Cleanup.
func (net *Network) Client(key ed25519.PrivateKey) *cell.Client {
	t := net.t
	t.Helper()
	tr, err := transport.Listen(transport.Config{Key: NewKey(t), ListenAddr: "127.0.0.1:0", Logger: net.log})
	if err != nil {
		t.Fatalf("celltest: client listen: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return &cell.Client{Transport: tr, Key: key, Network: net.cfg.Network, Now: NowMs,
		Verifier: wire.NewVerifier(wire.Config{Network: net.cfg.Network, Now: NowMs})}
}

// Client returns a request client signing with the node's own key over
// the node's transport, as the node's cells call other nodes.
func (n *Node) Client() *cell.Client {
	return &cell.Client{Transport: n.Transport, Key: n.Key, Network: n.Host.Network, Now: n.Host.Now,
		Verifier: wire.NewVerifier(wire.Config{Network: n.Host.Network, Now: n.Host.Now})}
}

// Targets lists the nodes' targets.
func Targets(nodes ...*Node) []cell.Target {
	out := make([]cell.Target, len(nodes))
	for i, n := range nodes {
		out[i] = n.Target()
	}
	return out
}

// NowMs is the system clock in Unix ms.
func NowMs() int64 { return time.Now().UnixMilli() }

// NewKey returns a new random Ed25519 key.
func NewKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Keys derives a person's keys from a new random phrase.
func Keys(t testing.TB) *identity.Keys {
	t.Helper()
	m, err := identity.NewMnemonic()
	if err != nil {
		t.Fatal(err)
	}
	k, err := identity.KeysFromMnemonic(m, "")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Logger discards everything unless DebugEnv or extra is set in the
// environment, then logs at debug level to stderr.
func Logger(extra string) *slog.Logger {
	if os.Getenv(DebugEnv) != "" || extra != "" && os.Getenv(extra) != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Scale stretches a duration under the race detector (x3), for timers
// and intervals of test nodes.
func Scale(d time.Duration) time.Duration {
	if Race {
		return 3 * d
	}
	return d
}

// Wait is the default deadline of the waiting helpers: generous, since a
// CI machine running many packages' tests under -race can be very slow.
const Wait = 90 * time.Second

// Eventually polls cond every 50 ms until it holds, failing the test with
// what (formatted with args) after limit (Wait when zero).
func Eventually(t testing.TB, limit time.Duration, cond func() bool, what string, args ...any) {
	t.Helper()
	if limit <= 0 {
		limit = Wait
	}
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("celltest: timed out after %v waiting until %s", limit, fmt.Sprintf(what, args...))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitTree waits until every live node's runtime of one cell sees a
// single tree of all of them with one root. view returns a node's runtime
// view of that cell.
func WaitTree(t testing.TB, nodes []*Node, view func(*Node) cell.View) {
	t.Helper()
	var last string
	Eventually(t, 0, func() bool {
		root := ""
		for _, n := range nodes {
			if n.Killed() {
				continue
			}
			v := view(n)
			if v.Size != live(nodes) || v.Position < 1 || root != "" && v.Root.Key != root {
				last = fmt.Sprintf("%.8x: %s position %d size %d root %.8s", n.Pub(), v.Status, v.Position, v.Size, v.Root.Key)
				return false
			}
			root = v.Root.Key
		}
		return true
	}, "one tree of %d nodes forms (last: %v)", live(nodes), Lazy(func() string { return last }))
}

// Lazy formats as what f returns when printed: a failure message can
// show the state at the moment of failure.
type Lazy func() string

func (f Lazy) String() string { return f() }

func live(nodes []*Node) int {
	c := 0
	for _, n := range nodes {
		if !n.Killed() {
			c++
		}
	}
	return c
}
