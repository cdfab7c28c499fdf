package files

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/cell/celltest"
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

	// Moves change only the tree: a folder with its subtree and a renamed
	// file read back the same bytes from their new paths.
	if _, err := c.Move(ctx, "/docs/deep", "/photos/deep"); err != nil {
		t.Fatal(err)
	}
	if got := getBytes(t, c, "/photos/deep/x/y.txt"); !bytes.Equal(got, files["/docs/deep/x/y.txt"]) {
		t.Fatalf("moved folder's file reads %q", got)
	}
	if _, err := c.List(ctx, "/docs/deep"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the moved folder is still at its old path: %v", err)
	}
	if _, err := c.Move(ctx, "/a.txt", "/b.txt"); err != nil {
		t.Fatal(err)
	}
	if got := getBytes(t, c, "/b.txt"); !bytes.Equal(got, files["/a.txt"]) {
		t.Fatalf("renamed file reads %q", got)
	}
	if _, err := c.Move(ctx, "/photos", "/photos/deep/inside"); !errors.Is(err, ErrBadPath) {
		t.Fatalf("a folder moved into itself: %v", err)
	}
	if _, err := c.Move(ctx, "/b.txt", "/empty"); !errors.Is(err, ErrExists) {
		t.Fatalf("a move onto a taken name: %v", err)
	}
	if _, err := c.Move(ctx, "/b.txt", "/a.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(ctx, "/photos/deep", "/docs/deep"); err != nil {
		t.Fatal(err)
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

// TestForgedAndReplayedHeadsRefused: a holder refuses a forged head (bad
// signature), a head from someone other than its account, an old head
// sent again (by the owner or any node: stale or replayed), the exact
// request envelope sent twice, and an owner's head that does not extend
// its tip; none of them changes what it keeps.
func TestForgedAndReplayedHeadsRefused(t *testing.T) {
	ctx := context.Background()
	nodes := startNetwork(t, 3)
	k := testKeys(t)
	c := newClient(t, k, nodes[0])
	if _, err := c.Put(ctx, "/f", bytes.NewReader([]byte("x")), nil); err != nil {
		t.Fatal(err)
	}
	first, err := c.Head(ctx)
	if err != nil || first == nil || first.Seq != 1 {
		t.Fatalf("head after one put: %+v, %v", first, err)
	}
	if _, err := c.Put(ctx, "/g", bytes.NewReader([]byte("y")), nil); err != nil {
		t.Fatal(err)
	}
	cur, err := c.Head(ctx)
	if err != nil || cur.Seq != 2 || !cur.HasParent(first.hash) {
		t.Fatalf("head after two puts: %+v, %v", cur, err)
	}
	target := nodes[0].target()
	owner := c.cfg.Call
	node := nodes[1].Client()
	send := func(from *cell.Client, kind string, raw []byte) error {
		payload, _ := wire.Marshal(headMsg{Head: raw})
		_, err := from.Call(ctx, target, DNA, kind, payload)
		return err
	}
	if err := send(owner, KindPutHead, cur.Raw()); err != nil {
		t.Fatalf("the current head again (an idempotent retry): %v", err)
	}
	// Replays of the old head, by the owner and by a node.
	if err := send(owner, KindPutHead, first.Raw()); !cell.HasCode(err, CodeStale) {
		t.Fatalf("owner's replay of an old head: %v", err)
	}
	if err := send(node, KindSyncHead, first.Raw()); !cell.HasCode(err, CodeStale) {
		t.Fatalf("node's replay of an old head: %v", err)
	}
	// The exact same request envelope twice: the envelope replay guard.
	next, _ := SignHead(k.Account, Head{Seq: 3, Root: cur.Root, Parents: [][]byte{cur.hash[:]}})
	payload, _ := wire.Marshal(headMsg{Head: next.Raw()})
	env, err := wire.SealEnvelope(k.Account, wire.Header{Network: testNetwork, Cell: DNA.Name, Kind: KindPutHead, Time: nowMs()}, payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner.CallRaw(ctx, target, DNA, env); err != nil {
		t.Fatalf("a fresh successor: %v", err)
	}
	if _, err := owner.CallRaw(ctx, target, DNA, env); !cell.HasCode(err, cell.CodeReplay) {
		t.Fatalf("the same envelope again: %v", err)
	}
	// A competing first head, and one naming a parent never seen: neither
	// extends the tip.
	other, _ := SignHead(k.Account, Head{Seq: 1, Root: cur.Root, Time: 1})
	if err := send(owner, KindPutHead, other.Raw()); !cell.HasCode(err, CodeConflict) {
		t.Fatalf("competing first head: %v", err)
	}
	bogus, _ := SignHead(k.Account, Head{Seq: 4, Root: cur.Root, Parents: [][]byte{bytes.Repeat([]byte{9}, 32)}})
	if err := send(owner, KindPutHead, bogus.Raw()); !cell.HasCode(err, CodeConflict) {
		t.Fatalf("head with an unknown parent: %v", err)
	}
	// A node may sync but not put; nobody may put another account's head.
	if err := send(node, KindPutHead, next.Raw()); !cell.HasCode(err, cell.CodeUnauthorized) {
		t.Fatalf("put-head by a node: %v", err)
	}
	stranger := newClient(t, testKeys(t), nodes[0])
	if err := send(stranger.cfg.Call, KindPutHead, next.Raw()); !cell.HasCode(err, cell.CodeUnauthorized) {
		t.Fatalf("put-head of another account: %v", err)
	}
	// Forged: a flipped signature byte, and a chain head of another
	// account, by put and by sync.
	bad := bytes.Clone(next.Raw())
	bad[len(bad)-1] ^= 1
	if err := send(owner, KindPutHead, bad); !cell.HasCode(err, CodeForgedHead) {
		t.Fatalf("forged put: %v", err)
	}
	if err := send(node, KindSyncHead, bad); !cell.HasCode(err, CodeForgedHead) {
		t.Fatalf("forged sync: %v", err)
	}
	foreign, _ := sampleHead(t, 1)
	payload, _ = wire.Marshal(headMsg{Head: next.Raw(), Chain: [][]byte{foreign.Raw()}})
	if _, err := node.Call(ctx, target, DNA, KindSyncHead, payload); !cell.HasCode(err, cell.CodeBadRequest) {
		t.Fatalf("chain with another account's head: %v", err)
	}
	tips, err := nodes[0].files.Tips(k.AccountPublic())
	if err != nil || len(tips) != 1 || tips[0].hash != next.hash {
		t.Fatalf("tips after the refusals: %v, %v", tips, err)
	}
	if st := nodes[0].files.Status(); st.Stale < 2 || st.Forked != 0 {
		t.Fatalf("status %+v", st)
	}
}

// only is a membership view of just these nodes: a conduit cut off from
// the rest of the network by a partition.
func only(nodes ...*tnode) func(*cell.Client) shard.Membership {
	return func(*cell.Client) shard.Membership {
		return shard.MembersFunc(func(context.Context) ([]shard.Member, error) {
			var out []shard.Member
			for _, n := range nodes {
				out = append(out, shard.Member{Key: n.Pub(), Addr: n.Addr()})
			}
			return out, nil
		})
	}
}

// TestMinorityForkNeverLost is the race that "highest seq wins" lost: two
// conduits of one person write at once from the same head; A's update
// lands on two of the three head holders (a majority: A is told it
// succeeded), B's on the third only. Then A's two holders are cut off; a
// third conduit C reads the tree from the one holder left (B's head),
// builds on it (a new file, a removal, and a file A also wrote) and is
// told it succeeded too. The holders come back and sync. Every update of
// A, B and C must survive: the tree lists every file with the right
// contents, C's removal stays applied, and the name both A and C wrote
// keeps both versions, one under a conflict name. Writing then merges the
// fork into one head on every holder.
func TestMinorityForkNeverLost(t *testing.T) {
	ctx := context.Background()
	// Sync passes only when the test runs them, so the partition holds.
	nodes := startNetworkSync(t, 6, time.Hour)
	k := testKeys(t)
	full := newClient(t, k, nodes...)
	put := func(c *Client, p, data string) {
		t.Helper()
		if _, err := c.Put(ctx, p, strings.NewReader(data), nil); err != nil {
			t.Fatalf("put %s: %v", p, err)
		}
	}
	put(full, "/base.txt", "base")
	put(full, "/old.txt", "old")

	waitMembers(t, nodes, len(nodes))
	members, _ := RegistryMembers(nodes[0].reg).Members(ctx)
	byKey := map[string]*tnode{}
	for _, n := range nodes {
		byKey[string(n.Pub())] = n
	}
	var holders, rest []*tnode
	for i, m := range shard.Rank(HeadID(k.AccountPublic()), members) {
		if i < shard.DefaultK {
			holders = append(holders, byKey[string(m.Key)])
		} else {
			rest = append(rest, byKey[string(m.Key)])
		}
	}
	h1, h2, h3 := holders[0], holders[1], holders[2]
	everyone := func(c *cell.Client) shard.Membership { return RemoteMembers(c, celltest.Targets(nodes[0].Node)) }
	allShards := func(c *cell.Client) shard.Membership { return shard.RemoteMembers(c, celltest.Targets(nodes[0].Node)) }

	a := newClientWith(t, k, "laptop", only(h1, h2), allShards)
	b := newClientWith(t, k, "phone", only(h3), allShards)
	put(a, "/a.txt", "from A")
	put(a, "/notes.txt", "notes of A")
	put(b, "/b.txt", "from B")
	for _, n := range []*tnode{h1, h2} {
		if ts, _ := n.files.Tips(k.AccountPublic()); len(ts) != 1 || ts[0].Device != "laptop" {
			t.Fatalf("A's holder keeps %v", ts)
		}
	}

	// A's holders are cut off; C reaches the rest of the network.
	c := newClientWith(t, k, "tablet", only(append([]*tnode{h3}, rest...)...), allShards)
	if es, err := c.List(ctx, "/"); err != nil || len(es) != 3 {
		t.Fatalf("C sees %v, %v (base, old and B's file)", es, err)
	}
	put(c, "/c.txt", "from C")
	put(c, "/notes.txt", "notes of C")
	if err := c.Remove(ctx, "/old.txt"); err != nil {
		t.Fatal(err)
	}

	// The partition heals: every node syncs with the whole view (again,
	// should a loaded machine have let a registry entry lapse meanwhile).
	waitFor(t, 0, func() bool {
		for _, n := range nodes {
			n.files.Sync(ctx)
		}
		for _, n := range holders {
			if ts, _ := n.files.Tips(k.AccountPublic()); len(ts) != 2 {
				return false
			}
		}
		return true
	}, "every holder keeps A's and C's tips")

	reader := newClientWith(t, k, "desktop", everyone, allShards)
	check := func(stage string) {
		t.Helper()
		want := map[string]string{"/base.txt": "base", "/a.txt": "from A", "/b.txt": "from B", "/c.txt": "from C"}
		got := map[string]string{}
		var conflict []string
		for p := range walkAll(t, reader) {
			data := string(getBytes(t, reader, p))
			got[p] = data
			if strings.Contains(p, "(conflict ") {
				conflict = append(conflict, p)
			}
		}
		for p, d := range want {
			if got[p] != d {
				t.Fatalf("%s: %s reads %q, want %q (tree %v)", stage, p, got[p], d, got)
			}
		}
		if _, ok := got["/old.txt"]; ok {
			t.Fatalf("%s: C's removal was undone", stage)
		}
		if len(conflict) != 1 || len(got) != 6 {
			t.Fatalf("%s: tree %v", stage, got)
		}
		notes := []string{got["/notes.txt"], got[conflict[0]]}
		slices.Sort(notes)
		if notes[0] != "notes of A" || notes[1] != "notes of C" {
			t.Fatalf("%s: notes %v", stage, notes)
		}
		t.Logf("%s: conflict copy %s", stage, conflict[0])
	}
	check("read of the fork")
	merged, err := reader.Merge(ctx)
	if err != nil || !merged {
		t.Fatalf("merge: %v, %v", merged, err)
	}
	check("after the merge")
	head, err := reader.Head(ctx)
	if err != nil || len(head.ParentHashes()) != 2 {
		t.Fatalf("merge head %+v, %v", head, err)
	}
	waitFor(t, 0, func() bool {
		for _, n := range nodes {
			n.files.Sync(ctx)
		}
		for _, n := range holders {
			if ts, _ := n.files.Tips(k.AccountPublic()); len(ts) != 1 || ts[0].hash != head.hash {
				return false
			}
		}
		return true
	}, "every holder keeps the merge head alone")
	if again, err := reader.Merge(ctx); err != nil || again {
		t.Fatalf("second merge: %v, %v", again, err)
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
			if ts, _ := n.files.Tips(k.AccountPublic()); len(ts) == 1 && ts[0].hash == want.hash {
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
