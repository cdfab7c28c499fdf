package files

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/borgios/borgios/node/cell"
)

// dagKit signs distinct heads of one account for pure tests.
type dagKit struct {
	t    testing.TB
	key  ed25519.PrivateKey
	root []byte
	n    int64
}

func newDagKit(t testing.TB) *dagKit {
	h, key := sampleHead(t, 1)
	return &dagKit{t: t, key: key, root: h.Root}
}

// head signs a head extending parents (seq from them), distinct from
// every other by its time.
func (k *dagKit) head(parents ...*SignedHead) *SignedHead {
	k.t.Helper()
	k.n++
	h := Head{Seq: 1, Root: k.root, Time: k.n}
	for _, p := range parents {
		h.Parents = append(h.Parents, p.hash[:])
		h.Seq = max(h.Seq, p.Seq+1)
	}
	sh, err := SignHead(k.key, h)
	if err != nil {
		k.t.Fatal(err)
	}
	return sh
}

func fetchFrom(hs ...*SignedHead) func([]HeadHash) []*SignedHead {
	return func(want []HeadHash) []*SignedHead {
		var out []*SignedHead
		for _, h := range hs {
			if slices.Contains(want, h.hash) {
				out = append(out, h)
			}
		}
		return out
	}
}

func hashesOf(hs []*SignedHead) string {
	var s []string
	for _, h := range hs {
		s = append(s, h.hash.String())
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

func TestResolveTips(t *testing.T) {
	k := newDagKit(t)
	h1 := k.head()
	h2 := k.head(h1)
	h3 := k.head(h2)
	a2 := k.head(h1)
	b3 := k.head(h2)
	b4 := k.head(b3)
	other := k.head() // an unrelated first head
	all := fetchFrom(h1, h2, h3, a2, b3, b4, other)

	cases := []struct {
		name  string
		tips  []*SignedHead
		fetch func([]HeadHash) []*SignedHead
		live  []*SignedHead
		base  *SignedHead
	}{
		{"one tip", []*SignedHead{h3}, all, []*SignedHead{h3}, nil},
		{"ancestor dropped", []*SignedHead{h1, h3}, all, []*SignedHead{h3}, nil},
		{"ancestor two levels down, repeated", []*SignedHead{h3, h1, h3}, all, []*SignedHead{h3}, nil},
		{"fork", []*SignedHead{a2, h3}, all, []*SignedHead{a2, h3}, h1},
		{"fork of different depths", []*SignedHead{h3, b4}, all, []*SignedHead{h3, b4}, h2},
		{"three tips, one an ancestor", []*SignedHead{a2, b4, h2}, all, []*SignedHead{a2, b4}, h1},
		{"independent first heads", []*SignedHead{h3, other}, all, []*SignedHead{h3, other}, nil},
		{"history out of reach", []*SignedHead{a2, h3}, fetchFrom(), []*SignedHead{a2, h3}, nil},
	}
	for _, c := range cases {
		live, base := resolveTips(c.tips, c.fetch)
		if hashesOf(live) != hashesOf(c.live) {
			t.Errorf("%s: live %s, want %s", c.name, hashesOf(live), hashesOf(c.live))
		}
		if base != c.base && (base == nil || c.base == nil || base.hash != c.base.hash) {
			t.Errorf("%s: base %v, want %v", c.name, base, c.base)
		}
	}

	// A merge head ends the fork; the chain a holder keeping only h1 needs.
	m := k.head(a2, b4)
	if live, _ := resolveTips([]*SignedHead{a2, m, b4}, all); hashesOf(live) != hashesOf([]*SignedHead{m}) {
		t.Fatalf("merge head does not supersede its parents: %s", hashesOf(live))
	}
	cache := map[HeadHash]*SignedHead{}
	for _, h := range []*SignedHead{h1, h2, h3, a2, b3, b4, m} {
		cache[h.hash] = h
	}
	chain := chainTo(m, []*SignedHead{h1}, func(h HeadHash) *SignedHead { return cache[h] }, MaxChain, maxChainBytes)
	if hashesOf(chain) != hashesOf([]*SignedHead{a2, h2, b3, b4}) || chain[0].Seq != 2 || chain[len(chain)-1] != b4 {
		t.Fatalf("chain to h1: %v", chain)
	}
	if c := chainTo(m, []*SignedHead{b4, a2}, func(h HeadHash) *SignedHead { return cache[h] }, MaxChain, maxChainBytes); len(c) != 0 {
		t.Fatalf("chain to the parents themselves: %v", c)
	}
}

// testDB is a holder's head database without a network.
func testDB(t *testing.T) *bolt.DB {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "heads.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketAccounts)
		return err
	})
	return db
}

func TestIngestRules(t *testing.T) {
	k := newDagKit(t)
	db := testDB(t)
	acct := k.key.Public().(ed25519.PublicKey)
	apply := func(h *SignedHead, put bool, chain ...*SignedHead) error {
		return db.Update(func(tx *bolt.Tx) error {
			a := openAccount(tx, acct, true)
			for _, c := range ancestorsIn(h, chain) {
				if err := a.put(c); err != nil {
					return err
				}
			}
			if err := ingest(a, h, put); err != nil {
				return err
			}
			return a.evict()
		})
	}
	tips := func() string {
		var out []*SignedHead
		db.View(func(tx *bolt.Tx) error {
			out = openAccount(tx, acct, false).tips()
			return nil
		})
		return hashesOf(out)
	}
	h1 := k.head()
	h2 := k.head(h1)
	a3 := k.head(h2)
	b3 := k.head(h2)
	if err := apply(h1, true); err != nil {
		t.Fatal(err)
	}
	if err := apply(h2, true); err != nil {
		t.Fatal(err)
	}
	if err := apply(h2, true); !errors.Is(err, errSame) {
		t.Fatalf("the same head again: %v", err)
	}
	if err := apply(h1, true); !errors.Is(err, errOld) {
		t.Fatalf("replayed put of an old head: %v", err)
	}
	if err := apply(h1, false); !errors.Is(err, errOld) {
		t.Fatalf("replayed sync of an old head: %v", err)
	}
	if err := apply(a3, true); err != nil {
		t.Fatal(err)
	}
	// The race: b3 also extends h2, not a3. The owner's put is refused
	// (compare and swap), a sync keeps both.
	if err := apply(b3, true); !cell.HasCode(err, CodeConflict) {
		t.Fatalf("put of a concurrent head: %v", err)
	}
	if tips() != hashesOf([]*SignedHead{a3}) {
		t.Fatal("a refused put changed the tips")
	}
	if err := apply(b3, false); err != nil {
		t.Fatalf("sync of a concurrent head: %v", err)
	}
	if tips() != hashesOf([]*SignedHead{a3, b3}) {
		t.Fatalf("tips after the fork: %s", tips())
	}
	// A merge head extends both: the only tip again.
	m := k.head(a3, b3)
	if err := apply(m, true); err != nil {
		t.Fatal(err)
	}
	if tips() != hashesOf([]*SignedHead{m}) {
		t.Fatalf("tips after the merge: %s", tips())
	}
	// A head that skips heads this holder never saw links through its
	// chain; without it the holder keeps both (it cannot tell).
	n1 := k.head(m)
	n2 := k.head(n1)
	n3 := k.head(n2)
	if err := apply(n3, true, n1, n2); err != nil {
		t.Fatalf("put with a chain: %v", err)
	}
	if tips() != hashesOf([]*SignedHead{n3}) {
		t.Fatalf("tips after a linked jump: %s", tips())
	}
	// A chain head that is no ancestor of the head is not stored, so it
	// cannot make a genuine tip arriving later look old.
	stray := k.head(n3)
	n4 := k.head(n3)
	if err := apply(n4, true, stray); err != nil {
		t.Fatal(err)
	}
	if err := apply(stray, false); err != nil {
		t.Fatalf("a tip once slipped into a chain: %v", err)
	}
	n3 = k.head(n4, stray)
	if err := apply(n3, true); err != nil || tips() != hashesOf([]*SignedHead{n3}) {
		t.Fatalf("merge of the stray tip: %v, %s", err, tips())
	}
	g2 := k.head(k.head(n3))
	if err := apply(g2, true); !cell.HasCode(err, CodeConflict) {
		t.Fatalf("put across a gap without its chain: %v", err)
	}
	if err := apply(g2, false); err != nil || tips() != hashesOf([]*SignedHead{n3, g2}) {
		t.Fatalf("sync across a gap keeps both: %v, %s", err, tips())
	}
	// Bounded tips: MaxTips concurrent heads, then refusal.
	for i := 2; i <= MaxTips; i++ { // g2 and the children of n3 (which leaves)
		if err := apply(k.head(n3), false); err != nil {
			t.Fatalf("fork %d: %v", i, err)
		}
	}
	if err := apply(k.head(n3), false); !cell.HasCode(err, CodeTooManyTips) {
		t.Fatalf("tip %d: %v", MaxTips+1, err)
	}
}

func TestMigrateVersion1Store(t *testing.T) {
	db := testDB(t)
	v1 := v1Head(t)
	acct := ed25519.PublicKey(v1.Account)
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketHeadsV1)
		if err != nil {
			return err
		}
		if err := b.Put(acct, v1.Raw()); err != nil {
			return err
		}
		return migrate(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketHeadsV1) != nil {
			t.Error("version 1 bucket left behind")
		}
		if ts := openAccount(tx, acct, false).tips(); len(ts) != 1 || ts[0].hash != v1.hash {
			t.Errorf("tips after migration: %v", ts)
		}
		return nil
	})
	// A version 2 head extends a version 1 one like any other.
	k := newDagKit(t)
	next, err := SignHead(k.key, Head{Seq: 2, Root: v1.Root, Parents: [][]byte{v1.hash[:]}})
	if err != nil || !next.HasParent(v1.hash) {
		t.Fatal(err)
	}
	if live, _ := resolveTips([]*SignedHead{v1, next}, fetchFrom()); len(live) != 1 || live[0] != next {
		t.Fatal("a version 2 head does not supersede its version 1 parent")
	}
}

func TestIngestLateAncestorAndEviction(t *testing.T) {
	k := newDagKit(t)
	db := testDB(t)
	acct := k.key.Public().(ed25519.PublicKey)
	apply := func(h *SignedHead, put bool) error {
		return db.Update(func(tx *bolt.Tx) error {
			a := openAccount(tx, acct, true)
			if err := ingest(a, h, put); err != nil {
				return err
			}
			return a.evict()
		})
	}
	h1 := k.head()
	h2 := k.head(h1)
	h3 := k.head(h2)
	if err := apply(h1, true); err != nil {
		t.Fatal(err)
	}
	if err := apply(h3, false); err != nil {
		t.Fatal(err)
	}
	// h2 comes after h3 named it: history only, h3 stays the one tip
	// (h1 stays too: without h2 the holder could not link them).
	if err := apply(h2, false); err != nil {
		t.Fatal(err)
	}
	var tips []*SignedHead
	db.View(func(tx *bolt.Tx) error {
		tips = openAccount(tx, acct, false).tips()
		return nil
	})
	if slices.ContainsFunc(tips, func(h *SignedHead) bool { return h.hash == h2.hash }) {
		t.Fatalf("a late ancestor became a tip: %s", hashesOf(tips))
	}
	// A long line: history stays bounded, the tip stays.
	// One transaction for the lot: commits (fsyncs) are not under test.
	cur := h3
	err := db.Update(func(tx *bolt.Tx) error {
		a := openAccount(tx, acct, true)
		for range MaxHistory + MaxHistory/4 {
			cur = k.head(cur)
			if err := ingest(a, cur, true); err != nil {
				return err
			}
			if err := a.evict(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		a := openAccount(tx, acct, false)
		if n := a.hist.Stats().KeyN; n > MaxHistory+MaxHistory/8 {
			t.Errorf("history of %d heads", n)
		}
		if ts := a.tips(); !slices.ContainsFunc(ts, func(h *SignedHead) bool { return h.hash == cur.hash }) {
			t.Errorf("the tip was evicted")
		}
		return nil
	})
}

func TestMergeFlatDirectories(t *testing.T) {
	ent := func(name string, ref byte, mtime int64) Entry {
		return Entry{Name: name, Kind: KindFile, Size: 1, MTime: mtime, Ref: []byte{ref}}
	}
	dir := func(es ...Entry) *Directory {
		d := &Directory{Version: dirVersion}
		for _, e := range es {
			d.Set(e)
		}
		return d
	}
	day := int64(1_700_000_000_000) // 2023-11-14
	base := dir(ent("keep", 1, day), ent("gone-a", 2, day), ent("gone-b", 3, day), ent("edit-a", 4, day), ent("edit-both.txt", 5, day), ent("del-vs-edit", 6, day))
	a := dir(ent("keep", 1, day), ent("gone-b", 3, day), ent("edit-a", 40, day), ent("edit-both.txt", 50, day+1), ent("add-a", 7, day), ent("same-add", 9, day))
	b := dir(ent("keep", 1, day), ent("gone-a", 2, day), ent("edit-a", 4, day), ent("edit-both.txt", 51, day), ent("add-b", 8, day), ent("same-add", 9, day), ent("del-vs-edit", 60, day))
	got, err := (&Client{}).mergeDirs(nil, base, &dnode{dir: a}, side{b, "phone"}, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got.dir.Entries {
		names = append(names, fmt.Sprintf("%s=%d", e.Name, e.Ref[0]))
	}
	want := "[add-a=7 add-b=8 del-vs-edit=60 edit-a=40 edit-both (conflict 2023-11-14 from phone).txt=51 edit-both.txt=50 keep=1 same-add=9]"
	if fmt.Sprint(names) != want {
		t.Fatalf("merged:\n %v\nwant\n %v", names, want)
	}
	if err := got.dir.Check(); err != nil {
		t.Fatal(err)
	}
	// Two-way (no base): a union, conflicts kept.
	got, err = (&Client{}).mergeDirs(nil, nil, &dnode{dir: dir(ent("x", 1, day))}, side{dir(ent("x", 2, day), ent("y", 3, day)), ""}, "")
	if err != nil || len(got.dir.Entries) != 3 || got.dir.Entries[1].Name != "x (conflict 2023-11-14 from another device)" {
		t.Fatalf("two-way merge: %+v, %v", got.dir.Entries, err)
	}
}

func TestConflictName(t *testing.T) {
	taken := map[string]bool{"a (conflict 1970-01-01 from pc).txt": true}
	if n := conflictName("a.txt", 0, "pc", func(s string) bool { return taken[s] }); n != "a (conflict 1970-01-01 from pc 2).txt" {
		t.Fatalf("name %q", n)
	}
	long := strings.Repeat("é", 200) + ".jpeg"
	n := conflictName(long, 0, deviceLabel("my/phone\x00"), func(string) bool { return false })
	if !ValidName(n) || !strings.HasSuffix(n, "from my-phone-).jpeg") {
		t.Fatalf("long name %q", n)
	}
	if n := conflictName(".bashrc", 0, "x", func(string) bool { return false }); n != ".bashrc (conflict 1970-01-01 from x)" {
		t.Fatalf("dot file %q", n)
	}
}
