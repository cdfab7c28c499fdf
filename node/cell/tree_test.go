package cell

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

var testDNA = DNA{Name: "treetest", MaxChildren: 2, Protocol: "treetest/1", Version: 1}

type testNode struct {
	key ed25519.PrivateKey
	tr  *transport.Transport
	rt  *Runtime
}

func (n *testNode) target() Target {
	return Target{Key: n.key.Public().(ed25519.PublicKey), Addr: n.tr.Addr().String()}
}

// startTree starts n runtimes of testDNA on real QUIC transports on
// 127.0.0.1, each given the first as contact, and waits until all are
// placed in one tree of n.
func startTree(t *testing.T, n int) []*testNode {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var nodes []*testNode
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.rt.Close()
			nd.tr.Close()
		}
	})
	for i := 0; i < n; i++ {
		_, key, _ := ed25519.GenerateKey(nil)
		tr, err := transport.Listen(transport.Config{Key: key, ListenAddr: "127.0.0.1:0", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		now := func() int64 { return time.Now().UnixMilli() }
		host := Host{Key: key, Network: "test", Transport: tr, Verifier: wire.NewVerifier(wire.Config{Network: "test", Now: now}), Now: now, Logger: quiet}
		var opts Options
		if i > 0 {
			var id peertree.NodeID
			copy(id[:], nodes[0].key.Public().(ed25519.PublicKey))
			opts.Contacts = []peertree.Member{{ID: id, Addr: nodes[0].tr.Addr().String()}}
		}
		rt, err := Start(host, Type{DNA: testDNA, Tree: peertree.Config{Heartbeat: 100 * time.Millisecond}}, opts)
		if err != nil {
			tr.Close()
			t.Fatal(err)
		}
		nodes = append(nodes, &testNode{key: key, tr: tr, rt: rt})
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		placed := 0
		for _, nd := range nodes {
			if v := nd.rt.View(); v.Position >= 1 && v.Size == n {
				placed++
			}
		}
		if placed == n {
			return nodes
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d nodes placed", placed, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type countingMeter struct {
	mu             sync.Mutex
	sent, received map[string]int
}

func (m *countingMeter) Add(node ed25519.PublicKey, sent, received int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent[string(node)] += sent
	m.received[string(node)] += received
}

// TestQueryTree asks every node of a real four-node tree (fan-out 2, so
// three levels) for its place, and checks that the answers fit together:
// one root at depth 0, every child names its parent back, depths grow by
// one per edge; and that the client's meter counted each round trip.
func TestQueryTree(t *testing.T) {
	nodes := startTree(t, 4)
	_, person, _ := ed25519.GenerateKey(nil)
	ctr, err := transport.Listen(transport.Config{Key: person, ListenAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Close()
	now := func() int64 { return time.Now().UnixMilli() }
	meter := &countingMeter{sent: map[string]int{}, received: map[string]int{}}
	c := &Client{Transport: ctr, Key: person, Network: "test", Verifier: wire.NewVerifier(wire.Config{Network: "test", Now: now}), Now: now, Meter: meter}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The answers are snapshots taken one after another; while the tree
	// still settles (under load) they may disagree, so ask again until one
	// round fits together.
	check := func() error {
		infos := map[string]TreeInfo{}
		for _, nd := range nodes {
			ti, err := QueryTree(ctx, c, nd.target(), testDNA)
			if err != nil {
				return err
			}
			infos[ti.Node.Key] = ti
		}
		roots, maxDepth := 0, 0
		for k, ti := range infos {
			maxDepth = max(maxDepth, ti.Depth)
			if ti.Parent.Key == "" {
				roots++
				if ti.Depth != 0 || ti.Position != 1 || ti.Root.Key != k {
					return fmt.Errorf("root %+v", ti)
				}
				continue
			}
			p, ok := infos[ti.Parent.Key]
			if !ok {
				return fmt.Errorf("parent %.8s of %.8s is not in the tree", ti.Parent.Key, k)
			}
			if p.Depth+1 != ti.Depth {
				return fmt.Errorf("depth %d under a parent at depth %d", ti.Depth, p.Depth)
			}
			found := false
			for _, ch := range p.Children {
				found = found || ch.Key == k
			}
			if !found {
				return fmt.Errorf("parent %.8s does not list child %.8s", ti.Parent.Key, k)
			}
		}
		if roots != 1 {
			return fmt.Errorf("%d roots", roots)
		}
		if maxDepth != 2 {
			return fmt.Errorf("four nodes with fan-out 2 reach depth %d, want 2", maxDepth)
		}
		return nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := check()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, nd := range nodes {
		k := string(nd.target().Key)
		if meter.sent[k] == 0 || meter.received[k] == 0 {
			t.Errorf("meter missed node %.8s: %d sent, %d received", hex.EncodeToString([]byte(k)), meter.sent[k], meter.received[k])
		}
	}

	// Asking node 0's address while pinning node 1's key fails at the
	// transport (wrong key): a tree answer cannot be passed off as
	// another node's.
	wrong := Target{Key: nodes[1].target().Key, Addr: nodes[0].target().Addr}
	var ce *Error
	if _, err := QueryTree(ctx, c, wrong, testDNA); !errors.As(err, &ce) {
		t.Fatalf("tree query to a mismatched key: %v", err)
	}
}

// FuzzDecodeTreeInfo feeds arbitrary bytes to the tree answer decoder: it
// must never panic, and what it accepts re-encodes to an answer it accepts.
func FuzzDecodeTreeInfo(f *testing.F) {
	k := hex.EncodeToString(make([]byte, 32))
	good, _ := wire.Marshal(treeWire{Node: Endpoint{Key: k, Addr: "127.0.0.1:1"}, Children: []Endpoint{{Key: k}}, Depth: 1, Root: Endpoint{Key: k}, Position: 2, Size: 3, Status: "member"})
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0xa0})
	bad, _ := wire.Marshal(treeWire{Node: Endpoint{Key: "zz"}, Depth: -1})
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		ti, err := DecodeTreeInfo(b)
		if err != nil {
			if !errors.Is(err, ErrBadTreeInfo) {
				t.Fatalf("error %v does not wrap ErrBadTreeInfo", err)
			}
			return
		}
		again, err := wire.Marshal(treeWire{Node: ti.Node, Parent: ti.Parent, Children: ti.Children, Depth: ti.Depth, Root: ti.Root, Position: ti.Position, Size: ti.Size, Status: ti.Status})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeTreeInfo(again); err != nil {
			t.Fatalf("re-encoded answer refused: %v", err)
		}
	})
}
