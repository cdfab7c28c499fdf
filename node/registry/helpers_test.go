package registry

import (
	"crypto/ed25519"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

const testNetwork = "borgios-test"

func quietLogger() *slog.Logger {
	if os.Getenv("REGDEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func nowMs() int64 { return time.Now().UnixMilli() }

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testNode is one node running only the registry cell, on real QUIC.
type testNode struct {
	key  ed25519.PrivateKey
	tr   *transport.Transport
	rt   *cell.Runtime
	reg  *Registry
	mreg *prometheus.Registry
}

func (n *testNode) target() cell.Target {
	return cell.Target{Key: n.key.Public().(ed25519.PublicKey), Addr: n.tr.Addr().String()}
}

func (n *testNode) member() peertree.Member {
	var id peertree.NodeID
	copy(id[:], n.key.Public().(ed25519.PublicKey))
	return peertree.Member{ID: id, Addr: n.tr.Addr().String()}
}

// kill closes the node abruptly: no goodbye, its peers just stop hearing it.
func (n *testNode) kill() {
	n.reg.Close()
	n.tr.Close()
	n.rt.Close()
}

type nodeOpts struct {
	cells    []CellRef
	interval time.Duration
	ttl      time.Duration
	maxTTL   time.Duration
}

func startNode(t *testing.T, o nodeOpts, contacts ...*testNode) *testNode {
	t.Helper()
	key := newKey(t)
	tr, err := transport.Listen(transport.Config{Key: key, ListenAddr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	host := cell.Host{Key: key, Network: testNetwork, Transport: tr, Now: nowMs, Logger: quietLogger(),
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: nowMs})}
	if o.interval == 0 {
		o.interval = 200 * time.Millisecond
	}
	if o.ttl == 0 {
		o.ttl = 2 * time.Second
	}
	mreg := prometheus.NewRegistry()
	cfg := Config{Host: host, Interval: o.interval, TTL: o.ttl, Policy: Policy{MaxTTL: o.maxTTL},
		Registerer: mreg, Tree: peertree.Config{Heartbeat: 100 * time.Millisecond, MergeProbe: time.Second}}
	if o.cells != nil {
		cells := o.cells
		cfg.Cells = func() []CellRef { return cells }
	}
	reg, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var opts cell.Options
	for _, c := range contacts {
		opts.Contacts = append(opts.Contacts, c.member())
	}
	rt, err := cell.Start(host, reg.Type(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Attach(rt); err != nil {
		t.Fatal(err)
	}
	n := &testNode{key: key, tr: tr, rt: rt, reg: reg, mreg: mreg}
	t.Cleanup(n.kill)
	return n
}

// newClient is a conduit-like client: its own transport key, a person's
// signing key.
func newClient(t *testing.T) *cell.Client {
	t.Helper()
	tr, err := transport.Listen(transport.Config{Key: newKey(t), ListenAddr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return &cell.Client{Transport: tr, Key: newKey(t), Network: testNetwork, Now: nowMs,
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: nowMs})}
}

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
