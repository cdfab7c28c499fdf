package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

const testNetwork = "borgios-dev"

// treeNode is one borgios node process in a tree test.
type treeNode struct {
	p       *proc
	dir     string
	key     string
	addr    string
	status  string
	stopped bool
}

type cellStatus struct {
	Status   string               `json:"status"`
	Position int                  `json:"position"`
	Size     int                  `json:"size"`
	Epoch    string               `json:"epoch"`
	Root     struct{ Key string } `json:"root"`
	Recent   []struct {
		ID        string `json:"id"`
		Received  int    `json:"received"`
		Delivered int    `json:"delivered"`
	} `json:"recent_broadcasts"`
}

// broadcast returns what the node saw of the broadcast id.
func (st cellStatus) broadcast(id string) (received, delivered int) {
	for _, b := range st.Recent {
		if b.ID == id {
			return b.Received, b.Delivered
		}
	}
	return 0, 0
}

func (n *treeNode) cell(name string) (cellStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.status, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return cellStatus{}, err
	}
	defer resp.Body.Close()
	var st struct {
		Cells map[string]cellStatus `json:"cells"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return cellStatus{}, err
	}
	return st.Cells[name], nil
}

func startTreeNode(t testing.TB, dir string, heartbeat time.Duration, peers ...string) *treeNode {
	args := []string{"node", "--listen", "127.0.0.1:0", "--monitor", "127.0.0.1:0", "--data-dir", dir,
		"--cells", "registry", "--heartbeat", heartbeat.String(), "--log-level", "warn"}
	for _, c := range peers {
		args = append(args, "--peers", c)
	}
	p := startProcQuiet(t, args...)
	contact := p.value(t, "contact")
	key, addr, _ := strings.Cut(contact, "@")
	return &treeNode{p: p, dir: dir, key: key, addr: addr, status: p.value(t, "monitor")}
}

// agreed reports whether the live nodes form one complete tree: one root,
// the right size everywhere and every position 1..N held exactly once.
func agreed(live []*treeNode, name string) (bool, string) {
	root := ""
	seen := map[int]bool{}
	for _, n := range live {
		st, err := n.cell(name)
		if err != nil {
			return false, err.Error()
		}
		if st.Size != len(live) || st.Position < 1 || st.Position > len(live) || seen[st.Position] {
			return false, fmt.Sprintf("node %s: status %s pos %d size %d epoch %s", n.key[:8], st.Status, st.Position, st.Size, st.Epoch)
		}
		if root != "" && st.Root.Key != root {
			return false, fmt.Sprintf("node %s has root %.8s, others %.8s", n.key[:8], st.Root.Key, root)
		}
		root = st.Root.Key
		seen[st.Position] = true
	}
	return true, ""
}

func waitAgreed(t testing.TB, live []*treeNode, name string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var why string
	for time.Since(start) < limit {
		var ok bool
		if ok, why = agreed(live, name); ok {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%d nodes did not agree on one %s tree within %v: %s", len(live), name, limit, why)
	return 0
}

func rootOf(t testing.TB, live []*treeNode, name string) *treeNode {
	for _, n := range live {
		if st, err := n.cell(name); err == nil && st.Position == 1 {
			return n
		}
	}
	t.Fatal("no root among live nodes")
	return nil
}

// announce asks node n to broadcast a fresh envelope signed by a client key
// through the cell's tree.
func announce(t testing.TB, n *treeNode, name string) string {
	t.Helper()
	_, trKey, _ := ed25519.GenerateKey(nil)
	tr, err := transport.Listen(transport.Config{Key: trKey, ListenAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	_, person, _ := ed25519.GenerateKey(nil)
	now := func() int64 { return time.Now().UnixMilli() }
	cl := &cell.Client{Transport: tr, Key: person, Network: testNetwork, Now: now,
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: now})}
	inner, err := wire.Seal(person, wire.Header{Network: testNetwork, Cell: name, Kind: "hello-all", Time: now()}, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := hex.DecodeString(n.key)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dna := cell.DNA{Name: name, Protocol: name + "/1"}
	id, err := cl.Call(ctx, cell.Target{Key: key, Addr: n.addr}, dna, cell.KindAnnounce, inner)
	if err != nil {
		t.Fatalf("announce via %s: %v", n.key[:8], err)
	}
	return hex.EncodeToString(id)
}

// waitBroadcastOnce waits until every live node delivered the broadcast
// id, then checks it was delivered exactly once everywhere and that no node
// received a duplicate copy: the copies sent sum to one per node but the
// origin.
func waitBroadcastOnce(t testing.TB, live []*treeNode, name, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		all := true
		for _, n := range live {
			st, err := n.cell(name)
			if err != nil {
				t.Fatal(err)
			}
			if _, d := st.broadcast(id); d == 0 {
				all = false
				break
			}
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broadcast %.8s did not reach every node within 30s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // let any duplicate arrive
	copies := 0
	for _, n := range live {
		st, err := n.cell(name)
		if err != nil {
			t.Fatal(err)
		}
		r, d := st.broadcast(id)
		if d != 1 {
			t.Fatalf("node %s delivered broadcast %.8s %d times", n.key[:8], id, d)
		}
		if r > 1 {
			t.Fatalf("node %s received %d copies of broadcast %.8s", n.key[:8], r, id)
		}
		copies += r
	}
	if copies != len(live)-1 {
		t.Fatalf("broadcast took %d messages for %d nodes, want %d (no duplicates)", copies, len(live), len(live)-1)
	}
}

// runTreeScenario starts n processes, kills kill of them (root included)
// with SIGKILL, waits for the survivors to agree again, checks a broadcast
// reaches each exactly once, and restarts one killed node. It returns the
// time the tree took to form and to repair.
func runTreeScenario(t testing.TB, n, kill int, hb time.Duration) (form, repair time.Duration) {
	const name = "registry"
	nodes := []*treeNode{startTreeNode(t, t.TempDir(), hb)}
	start := time.Now()
	first := nodes[0].key + "@" + nodes[0].addr
	for i := 1; i < n; i++ {
		// Each joiner knows the first node and one random earlier one, so
		// joins spread over the tree rather than all asking one node.
		o := nodes[rand.IntN(len(nodes))]
		nodes = append(nodes, startTreeNode(t, t.TempDir(), hb, first, o.key+"@"+o.addr))
	}
	waitAgreed(t, nodes, name, 60*time.Second)
	form = time.Since(start)

	root := rootOf(t, nodes, name)
	victims := []*treeNode{root}
	for _, i := range rand.Perm(len(nodes)) {
		if len(victims) == kill {
			break
		}
		if nodes[i] != root {
			victims = append(victims, nodes[i])
		}
	}
	for _, v := range victims {
		v.p.kill()
		v.stopped = true
	}
	killed := time.Now()
	var live []*treeNode
	for _, nd := range nodes {
		if !nd.stopped {
			live = append(live, nd)
		}
	}
	waitAgreed(t, live, name, 60*time.Second)
	repair = time.Since(killed)

	id := announce(t, live[rand.IntN(len(live))], name)
	waitBroadcastOnce(t, live, name, id)

	// A killed node restarts from its data directory: same key, and it
	// rejoins the tree.
	back := startTreeNode(t, victims[1].dir, hb, live[0].key+"@"+live[0].addr)
	if back.key != victims[1].key {
		t.Fatalf("restarted node has key %.8s, want %.8s", back.key, victims[1].key)
	}
	live = append(live, back)
	waitAgreed(t, live, name, 60*time.Second)
	return form, repair
}

// TestTreeOfThirtyProcesses is the real-process check: 30 borgios
// node processes form one tree; kill -9 five including the root; the
// survivors agree on one complete tree and get a broadcast exactly once;
// a killed node restarts with its key and rejoins.
func TestTreeOfThirtyProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 30 processes")
	}
	form, repair := runTreeScenario(t, 30, 5, 250*time.Millisecond)
	t.Logf("30 nodes formed one tree in %v; after kill -9 of 5 (root included) survivors agreed in %v", form, repair)
}

// BenchmarkTreeRepair30 reports how long 30 processes take to form a tree
// and to repair it after kill -9 of five including the root, with the
// default 1 s heartbeat.
func BenchmarkTreeRepair30(b *testing.B) {
	for i := 0; i < b.N; i++ {
		form, repair := runTreeScenario(b, 30, 5, time.Second)
		b.ReportMetric(form.Seconds(), "form_s")
		b.ReportMetric(repair.Seconds(), "repair_s")
	}
}
