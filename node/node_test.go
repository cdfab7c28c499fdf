package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/borgios/borgios/node/transport"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startNode(t *testing.T, dir string, peers ...Contact) *Node {
	t.Helper()
	n, err := Start(context.Background(), Config{
		DataDir: dir, Listen: "127.0.0.1:0", MonitorListen: "127.0.0.1:0",
		Peers: peers, PeerInterval: 50 * time.Millisecond, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// waitPeer polls until n reports key in state, because greetings run in the
// background on their own schedule.
func waitPeer(t *testing.T, n *Node, key ed25519.PublicKey, state string) {
	t.Helper()
	want := Contact{Key: key}.String()[:64]
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range n.Peers() {
			if p.Key == want && p.State == state {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("peer %s never reached state %q; peers: %+v", want[:12], state, n.Peers())
}

func TestTwoNodesGreetWithPinnedKeys(t *testing.T) {
	a := startNode(t, t.TempDir())
	b := startNode(t, t.TempDir(), a.Contact())
	waitPeer(t, b, a.PublicKey(), "connected")
	waitPeer(t, a, b.PublicKey(), "connected")
}

func TestWrongKeyIsRefused(t *testing.T) {
	a := startNode(t, t.TempDir())
	impostor, _, _ := ed25519.GenerateKey(nil)
	c := Contact{Key: impostor, Addr: a.Contact().Addr}

	b := startNode(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.Greet(ctx, c); !errors.Is(err, transport.ErrWrongPeerKey) {
		t.Fatalf("greeting a node under the wrong key: got %v, want ErrWrongPeerKey", err)
	}

	bb := startNode(t, t.TempDir(), c)
	waitPeer(t, bb, impostor, "wrong-key")
}

func TestRestartKeepsKey(t *testing.T) {
	dir := t.TempDir()
	n, err := Start(context.Background(), Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	k1 := n.PublicKey()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = startNode(t, dir)
	if !n.PublicKey().Equal(k1) {
		t.Fatal("node key changed across restart")
	}
}
