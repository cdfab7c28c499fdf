package netclient

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/borgios/borgios/node"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var testCells = []string{"crono", "registry", "shard"}

func startNode(t *testing.T, peers ...node.Contact) *node.Node {
	t.Helper()
	n, err := node.Start(context.Background(), node.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", Cells: testCells, Peers: peers,
		TreeHeartbeat: testHeartbeat, PeerInterval: time.Second, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// startNetwork starts n nodes that all know the first.
func startNetwork(t *testing.T, n int) []*node.Node {
	t.Helper()
	nodes := []*node.Node{startNode(t)}
	for len(nodes) < n {
		nodes = append(nodes, startNode(t, nodes[0].Contact()))
	}
	return nodes
}

func newPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = time.Second
	}
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// waitLive waits until the pool lists want live endpoints of cellName,
// refreshing as it goes.
func waitLive(t *testing.T, p *Pool, cellName string, want int) {
	t.Helper()
	waitFor(t, 90*time.Second, "the pool lists every node", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Refresh(ctx)
		return len(p.Endpoints(cellName)) == want
	})
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func newPerson(t testing.TB) (ed25519.PrivateKey, *[32]byte) {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var root [32]byte
	copy(root[:], k.Seed()) // any 32 bytes will do as a file-key root in tests
	return k, &root
}

func testData(n int) []byte {
	b := make([]byte, n)
	var x uint64 = 0x9e3779b97f4a7c15
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}
