package registry

import (
	"crypto/ed25519"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/cell/celltest"
	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/wire"
)

const testNetwork = "borgios-test"

func nowMs() int64 { return celltest.NowMs() }

func newKey(t testing.TB) ed25519.PrivateKey { return celltest.NewKey(t) }

// testNode is one node running only the registry cell, on real QUIC.
type testNode struct {
	*celltest.Node
	key  ed25519.PrivateKey
	rt   *cell.Runtime
	reg  *Registry
	mreg *prometheus.Registry
}

func (n *testNode) target() cell.Target { return n.Target() }

func (n *testNode) member() peertree.Member { return n.Member() }

// kill closes the node abruptly: no goodbye, its peers just stop hearing it.
func (n *testNode) kill() { n.Kill() }

type nodeOpts struct {
	cells    []CellRef
	interval time.Duration
	ttl      time.Duration
	maxTTL   time.Duration
}

// testNet is the network of one test; nodes started by startNode join it.
var testNets sync.Map // testing.TB -> *celltest.Network

func netOf(t *testing.T) *celltest.Network {
	if n, ok := testNets.Load(t); ok {
		return n.(*celltest.Network)
	}
	net := celltest.New(t, celltest.Config{Network: testNetwork, DebugEnv: "REGDEBUG",
		Tree: peertree.Config{Heartbeat: 100 * time.Millisecond, MergeProbe: time.Second}})
	testNets.Store(t, net)
	t.Cleanup(func() { testNets.Delete(t) })
	return net
}

func startNode(t *testing.T, o nodeOpts, contacts ...*testNode) *testNode {
	t.Helper()
	var cs []*celltest.Node
	for _, c := range contacts {
		cs = append(cs, c.Node)
	}
	net := netOf(t)
	node := net.Add(cs...)
	if o.interval == 0 {
		o.interval = 200 * time.Millisecond
	}
	if o.ttl == 0 {
		o.ttl = 2 * time.Second
	}
	mreg := prometheus.NewRegistry()
	cfg := Config{Host: node.Host, Interval: o.interval, TTL: o.ttl, Policy: Policy{MaxTTL: o.maxTTL},
		Registerer: mreg, Tree: net.Tree()}
	if o.cells != nil {
		cells := o.cells
		cfg.Cells = func() []CellRef { return cells }
	}
	reg, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rt := node.Start(reg.Type())
	if err := reg.Attach(rt); err != nil {
		t.Fatal(err)
	}
	node.OnKill(reg.Close)
	return &testNode{Node: node, key: node.Key, rt: rt, reg: reg, mreg: mreg}
}

// newClient is a conduit-like client: its own transport key, a person's
// signing key.
func newClient(t *testing.T) *cell.Client { return netOf(t).Client(newKey(t)) }

// sealWire signs an arbitrary entry payload with key, bypassing Seal's
// rules, as an attacker (or a buggy node) could.
func sealWire(t testing.TB, key ed25519.PrivateKey, w entryWire, envTime int64) []byte {
	t.Helper()
	payload, err := wire.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := wire.Seal(key, wire.Header{Network: testNetwork, Cell: CellName, Kind: KindEntry, Time: envTime}, payload)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func validWire(key ed25519.PrivateKey, now int64, seq uint64) entryWire {
	return entryWire{Node: key.Public().(ed25519.PublicKey), Addrs: []string{"127.0.0.1:7446"},
		Cells: []CellRef{{Name: "crono", Version: 1}, {Name: "registry", Version: 1}}, Load: 100,
		IssuedAt: now, Seq: seq, ExpiresAt: now + 30_000}
}

func marshalWire(w entryWire) ([]byte, error) { return wire.Marshal(w) }

// metric returns the value of the named registry metric (summed over
// labels matching label=value when label is set).
func (n *testNode) metric(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := n.mreg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := label == ""
			for _, lp := range m.GetLabel() {
				ok = ok || (lp.GetName() == label && lp.GetValue() == value)
			}
			if !ok {
				continue
			}
			if g := m.GetGauge(); g != nil {
				sum += g.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
		}
	}
	return sum
}
