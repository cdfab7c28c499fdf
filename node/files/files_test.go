package files

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func getBytes(t *testing.T, c *Client, p string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := c.Get(context.Background(), p, &buf); err != nil {
		t.Fatalf("get %s: %v", p, err)
	}
	return buf.Bytes()
}

func walkAll(t *testing.T, c *Client) map[string]Entry {
	t.Helper()
	out := map[string]Entry{}
	if err := c.Walk(context.Background(), "/", func(p string, e Entry) error {
		out[p] = e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTreeOverQUIC: put, get, list, walk, mkdir, replace and remove over a
// real 5-node network; then a fresh conduit with only the phrase's keys
// rebuilds the whole tree and reads every file back.
func TestTreeOverQUIC(t *testing.T) {
	ctx := context.Background()
	nodes := startNetwork(t, 5)
	k := testKeys(t)
	c := newClient(t, k, nodes[0], nodes[1])

	if es, err := c.List(ctx, "/"); err != nil || len(es) != 0 {
		t.Fatalf("empty tree lists %v, %v", es, err)
	}
	files := map[string][]byte{
		"/a.txt":             []byte("hello"),
		"/docs/big.bin":      randBytes(testFileBytes),
		"/docs/deep/x/y.txt": []byte("deep"),
		"/empty":             nil,
	}
	var last atomic.Int64
	for p, data := range files {
		e, err := c.Put(ctx, p, bytes.NewReader(data), func(n int64) { last.Store(n) })
		if err != nil {
			t.Fatal(err)
		}
		if e.Size != int64(len(data)) || e.Kind != KindFile {
			t.Fatalf("put %s: entry %+v", p, e)
		}
	}
	if last.Load() <= 0 {
		t.Fatal("progress never reported")
	}
	if err := c.Mkdir(ctx, "/photos/2024"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir(ctx, "/photos"); err != nil {
		t.Fatalf("mkdir of an existing dir: %v", err)
	}
	for p, data := range files {
		if got := getBytes(t, c, p); !bytes.Equal(got, data) {
			t.Fatalf("%s reads back %d bytes, want %d identical", p, len(got), len(data))
		}
	}
	es, err := c.List(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name+"/"+e.Kind.String())
	}
	if fmt.Sprint(names) != "[a.txt/file docs/dir empty/file photos/dir]" {
		t.Fatalf("root lists %v", names)
	}
	if _, err := c.List(ctx, "/nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("list of a missing dir: %v", err)
	}
	if _, err := c.List(ctx, "/a.txt/x"); !errors.Is(err, ErrNotDir) {
		t.Fatalf("list under a file: %v", err)
	}
	if err := c.Mkdir(ctx, "/a.txt"); !errors.Is(err, ErrExists) {
		t.Fatalf("mkdir over a file: %v", err)
	}
	if _, err := c.Put(ctx, "/docs", bytes.NewReader(nil), nil); !errors.Is(err, ErrExists) {
		t.Fatalf("put over a dir: %v", err)
	}
	if _, err := c.Get(ctx, "/docs", &bytes.Buffer{}); !errors.Is(err, ErrIsDir) {
		t.Fatalf("get of a dir: %v", err)
	}

	// Replace, then remove a file and a whole directory.
	if _, err := c.Put(ctx, "/a.txt", bytes.NewReader([]byte("hello again")), nil); err != nil {
		t.Fatal(err)
	}
	if got := getBytes(t, c, "/a.txt"); string(got) != "hello again" {
		t.Fatalf("replaced file reads %q", got)
	}
	if err := c.Remove(ctx, "/docs/deep"); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, "/empty"); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, "/empty"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	want := []string{"/a.txt", "/docs", "/docs/big.bin", "/photos", "/photos/2024"}
	got := walkAll(t, c)
	var paths []string
	for p := range got {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	if fmt.Sprint(paths) != fmt.Sprint(want) {
		t.Fatalf("tree is %v, want %v", paths, want)
	}

	// From the phrase alone: another conduit (new transport, new views).
	fresh := newClient(t, k, nodes[3])
	if fmt.Sprint(len(walkAll(t, fresh))) != fmt.Sprint(len(want)) {
		t.Fatal("fresh conduit sees another tree")
	}
	if g := getBytes(t, fresh, "/docs/big.bin"); !bytes.Equal(g, files["/docs/big.bin"]) {
		t.Fatal("fresh conduit reads another file")
	}
	// Another person sees an empty tree.
	if es, err := newClient(t, testKeys(t), nodes[2]).List(ctx, "/"); err != nil || len(es) != 0 {
		t.Fatalf("a stranger's tree lists %d entries, %v", len(es), err)
	}
}

// TestConcurrentConduitsLoseNothing: two conduits of one person put files
// at the same time; every update lands (conflicts are merged by re-reading
// and re-applying), none is lost.
func TestConcurrentConduitsLoseNothing(t *testing.T) {
	ctx := context.Background()
	nodes := startNetwork(t, 4)
	k := testKeys(t)
	a, b := newClient(t, k, nodes[0]), newClient(t, k, nodes[1])
	const each = 6
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for i, c := range []*Client{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				p := fmt.Sprintf("/shared/c%d-%d", i, j)
				if _, err := c.Put(ctx, p, bytes.NewReader([]byte(p)), nil); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	es, err := a.List(ctx, "/shared")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2*each {
		t.Fatalf("%d of %d files in the tree after concurrent puts", len(es), 2*each)
	}
	for _, e := range es {
		if got := getBytes(t, b, "/shared/"+e.Name); string(got) != "/shared/"+e.Name {
			t.Fatalf("%s reads %q", e.Name, got)
		}
	}
	conflicts := int64(0)
	for _, n := range nodes {
		conflicts += n.files.Status().Conflicts
	}
	t.Logf("%d conflicts refused and merged", conflicts)
}

// TestStaleHeadRefused: a put-head that does not follow the kept head is
// refused with the conflict code; a head sent by someone other than its
// account is refused; an identical retry is accepted.
func TestStaleHeadRefused(t *testing.T) {
	ctx := context.Background()
	nodes := startNetwork(t, 3)
	k := testKeys(t)
	c := newClient(t, k, nodes[0])
	if _, err := c.Put(ctx, "/f", bytes.NewReader([]byte("x")), nil); err != nil {
		t.Fatal(err)
	}
	cur, err := c.Head(ctx)
	if err != nil || cur == nil || cur.Seq != 1 {
		t.Fatalf("head after one put: %+v, %v", cur, err)
	}
	target := nodes[0].target()
	put := func(h *SignedHead) error {
		payload, _ := wire.Marshal(headMsg{Head: h.Raw()})
		_, err := c.cfg.Call.Call(ctx, target, DNA, KindPutHead, payload)
		return err
	}
	if err := put(cur); err != nil {
		t.Fatalf("identical head again: %v", err)
	}
	// Seq 1 again with another root: a second first head.
	other, err := SignHead(k.Account, Head{Seq: 1, Root: cur.Root, Time: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := put(other); !cell.HasCode(err, CodeConflict) {
		t.Fatalf("competing first head: %v", err)
	}
	// Seq 2 naming a wrong predecessor.
	wrong, _ := SignHead(k.Account, Head{Seq: 2, Root: cur.Root, Prev: other.hash[:]})
	if err := put(wrong); !cell.HasCode(err, CodeConflict) {
		t.Fatalf("head with a wrong prev: %v", err)
	}
	right, _ := SignHead(k.Account, Head{Seq: 2, Root: cur.Root, Prev: cur.hash[:]})
	if err := put(right); err != nil {
		t.Fatalf("the successor: %v", err)
	}
	// A node (not the account) may sync but not swap.
	nc := &cell.Client{Transport: nodes[1].tr, Key: nodes[1].key, Network: testNetwork, Now: nowMs,
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Now: nowMs})}
	payload, _ := wire.Marshal(headMsg{Head: right.Raw()})
	if _, err := nc.Call(ctx, nodes[2].target(), DNA, KindPutHead, payload); !cell.HasCode(err, cell.CodeUnauthorized) {
		t.Fatalf("put-head by a node: %v", err)
	}
	// A forged head is refused by its code.
	bad := bytes.Clone(right.Raw())
	bad[len(bad)-1] ^= 1
	payload, _ = wire.Marshal(headMsg{Head: bad})
	if _, err := nc.Call(ctx, nodes[2].target(), DNA, KindSyncHead, payload); !cell.HasCode(err, CodeForgedHead) {
		t.Fatalf("forged head: %v", err)
	}
}

// TestHeadSurvivesHolderDeaths: two of the head's three holders die; the
// tree still reads, an update still lands, and the sync loop brings the
// head back to k holders in the new view.
func TestHeadSurvivesHolderDeaths(t *testing.T) {
	ctx := context.Background()
	nodes := startNetwork(t, 6)
	k := testKeys(t)
	c := newClient(t, k, nodes...)
	data := randBytes(64 << 10)
	if _, err := c.Put(ctx, "/keep/me", bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	members, _ := RegistryMembers(nodes[0].reg).Members(ctx)
	holders := shard.Holders(HeadID(k.AccountPublic()), members, shard.DefaultK)
	var live []*tnode
	killed := 0
	for _, n := range nodes {
		if killed < 2 && (n.pub().Equal(holders[0].Key) || n.pub().Equal(holders[1].Key)) {
			n.kill()
			killed++
			continue
		}
		live = append(live, n)
	}
	// Right away, before the view drops the dead: reads walk past them.
	c2 := newClient(t, k, live...)
	if got := getBytes(t, c2, "/keep/me"); !bytes.Equal(got, data) {
		t.Fatal("file differs after two holders died")
	}
	start := time.Now()
	waitMembers(t, live, len(live))
	if _, err := c2.Put(ctx, "/keep/later", bytes.NewReader([]byte("later")), nil); err != nil {
		t.Fatal(err)
	}
	want, err := c2.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, func() bool {
		have := 0
		for _, n := range live {
			if h, _ := n.files.Head(k.AccountPublic()); h != nil && h.hash == want.hash {
				have++
			}
		}
		return have >= shard.DefaultK
	}, "the head is back on k holders")
	t.Logf("head back at k copies %v after the view dropped the dead", time.Since(start))
	if len(walkAll(t, newClient(t, k, live[0]))) != 3 {
		t.Fatal("tree incomplete after repair")
	}
}
