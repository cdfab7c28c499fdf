package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

func startCellNode(t *testing.T, cells []string, peers ...Contact) *Node {
	t.Helper()
	n, err := Start(context.Background(), Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", Cells: cells, Peers: peers,
		TreeHeartbeat: 250 * time.Millisecond, PeerInterval: time.Second, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// waitTree waits until every node sees the same tree of the named cell with
// want members, and returns the root's key.
func waitTree(t *testing.T, name string, want int, nodes ...*Node) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ok := true
		root := ""
		for _, n := range nodes {
			v := n.Cell(name).View()
			if v.Size != want || (root != "" && v.Root.Key != root) || v.Position < 1 {
				ok = false
				last = fmt.Sprintf("node %x: %+v", n.PublicKey()[:4], v)
				break
			}
			root = v.Root.Key
		}
		if ok {
			return root
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("cell %s never formed one tree of %d; last: %s", name, want, last)
	return ""
}

func TestCellsFormSeparateTrees(t *testing.T) {
	a := startCellNode(t, nil)
	b := startCellNode(t, nil, a.Contact())
	c := startCellNode(t, []string{"registry"}, a.Contact())
	d := startCellNode(t, nil, b.Contact())
	waitTree(t, "registry", 4, a, b, c, d)
	waitTree(t, "crono", 3, a, b, d)
	if c.Cell("crono") != nil {
		t.Fatal("node c runs crono although it was not asked to")
	}
}

func newTestClient(t *testing.T, key ed25519.PrivateKey) *cell.Client {
	t.Helper()
	_, trKey, _ := ed25519.GenerateKey(nil)
	tr, err := transport.Listen(transport.Config{Key: trKey, ListenAddr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	now := func() int64 { return time.Now().UnixMilli() }
	return &cell.Client{Transport: tr, Key: key, Network: DefaultNetwork, Now: now,
		Verifier: wire.NewVerifier(wire.Config{Network: DefaultNetwork, Now: now})}
}

// TestReceptorSignsAndBindsAnswers checks the receptor contract with a
// person's key: a signed request gets a signed answer bound to it, and
// tampered, replayed and unsigned requests are refused with distinct codes.
func TestReceptorSignsAndBindsAnswers(t *testing.T) {
	n := startCellNode(t, []string{"registry"})
	waitTree(t, "registry", 1, n)
	_, person, _ := ed25519.GenerateKey(nil)
	cl := newTestClient(t, person)
	target := cell.Target{Key: n.PublicKey(), Addr: n.Contact().Addr}
	dna := n.Cell("registry").DNA()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if _, err := cl.Call(ctx, target, dna, cell.KindView, nil); err != nil {
		t.Fatalf("signed request: %v", err)
	}

	req, err := wire.SealEnvelope(person, wire.Header{Network: DefaultNetwork, Cell: "registry", Kind: cell.KindView, Time: cl.Now()}, []byte{0xa0})
	if err != nil {
		t.Fatal(err)
	}
	codeFor := func(raw []byte) cell.Code {
		t.Helper()
		ans, err := cl.SendRaw(ctx, target, dna, raw)
		if err != nil {
			t.Fatalf("no signed answer: %v", err)
		}
		err = cell.AnswerError(ans)
		if err == nil {
			return "ok"
		}
		return err.(*cell.Error).Code
	}
	tamperedPayload := append([]byte(nil), req.Bytes()...)
	tamperedPayload[len(tamperedPayload)-wire.SignatureSize-1] ^= 1
	unsigned := append([]byte(nil), req.Bytes()...)
	clear(unsigned[len(unsigned)-wire.SignatureSize:])
	if got := codeFor(tamperedPayload); got != cell.CodeTampered {
		t.Errorf("tampered payload: %s, want %s", got, cell.CodeTampered)
	}
	if got := codeFor(unsigned); got != cell.CodeBadSignature {
		t.Errorf("unsigned: %s, want %s", got, cell.CodeBadSignature)
	}
	if got := codeFor(req.Bytes()); got != "ok" {
		t.Errorf("first send: %s, want ok", got)
	}
	if got := codeFor(req.Bytes()); got != cell.CodeReplay {
		t.Errorf("replayed: %s, want %s", got, cell.CodeReplay)
	}
	if got := codeFor([]byte("not an envelope")); got != cell.CodeMalformed {
		t.Errorf("garbage: %s, want %s", got, cell.CodeMalformed)
	}

	// An answer to another request is detected: send request B but check
	// the answer against request A.
	other, _ := wire.SealEnvelope(person, wire.Header{Network: DefaultNetwork, Cell: "registry", Kind: cell.KindView, Time: cl.Now()}, nil)
	ans, err := cl.SendRaw(ctx, target, dna, other.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := ans.Answers(req); err == nil {
		t.Fatal("an answer to another request was accepted as bound to this one")
	}
}

// TestRegistryFollowsLiveNodes checks the registry through a real client:
// every node serving a cell is listed (and only for the cells it runs), and
// a node that dies leaves the answers within the registry's TTL.
func TestRegistryFollowsLiveNodes(t *testing.T) {
	a := startCellNode(t, nil)
	b := startCellNode(t, nil, a.Contact())
	c := startCellNode(t, []string{"registry"}, a.Contact())
	waitTree(t, "registry", 3, a, b, c)

	_, person, _ := ed25519.GenerateKey(nil)
	cl := newTestClient(t, person)
	target := cell.Target{Key: a.PublicKey(), Addr: a.Contact().Addr}
	lookup := func(name string) map[string]bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		es, err := registry.Lookup(ctx, cl, target, name)
		if err != nil {
			t.Fatalf("lookup %s: %v", name, err)
		}
		out := map[string]bool{}
		for _, e := range es {
			out[string(e.Node)] = true
		}
		return out
	}
	waitFor(t, 30*time.Second, "registry lists all three nodes", func() bool {
		r, cr := lookup("registry"), lookup("crono")
		return len(r) == 3 && len(cr) == 2 && !cr[string(c.PublicKey())]
	})

	b.Close()
	died := time.Now()
	waitFor(t, 60*time.Second, "dead node leaves the registry", func() bool {
		return !lookup("registry")[string(b.PublicKey())]
	})
	// TTL is 3 refreshes of 10 heartbeats: 7.5 s with this test's 250 ms.
	t.Logf("dead node left the registry's answers after %v (bound: TTL 7.5s)", time.Since(died))
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
