package registry

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSealVerifyRoundTrip(t *testing.T) {
	key := newKey(t)
	now := nowMs()
	e, err := Seal(key, testNetwork, Entry{Addrs: []string{"192.0.2.1:7446", "node.example:7446"},
		Cells: []CellRef{{"registry", 1}, {"crono", 1}}, Load: 250, IssuedAt: now, Seq: 7, ExpiresAt: now + 30_000})
	if err != nil {
		t.Fatal(err)
	}
	if e.Cells[0].Name != "crono" {
		t.Fatalf("cells not put in canonical order: %v", e.Cells)
	}
	got, err := Verify(e.Raw(), testNetwork, now, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Node.Equal(e.Node) || got.Seq != 7 || got.Load != 250 || len(got.Addrs) != 2 || !got.Serves("crono") || got.Serves("shard") {
		t.Fatalf("round trip changed the entry: %v", got)
	}
	// Verifying twice is fine: entries arrive many times by design.
	if _, err := Verify(e.Raw(), testNetwork, now, Policy{}); err != nil {
		t.Fatalf("second verify: %v", err)
	}
	if _, err := Verify(e.Raw(), "other-net", now, Policy{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("other network: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	x, y := newKey(t), newKey(t)
	now := nowMs()
	mod := func(f func(*entryWire)) entryWire {
		w := validWire(x, now, 1)
		f(&w)
		return w
	}
	many := func(n int, f func(int) string) []string {
		var out []string
		for i := range n {
			out = append(out, f(i))
		}
		return out
	}
	manyCells := make([]CellRef, MaxCells+1)
	for i := range manyCells {
		manyCells[i] = CellRef{Name: fmt.Sprintf("c%03d", i), Version: 1}
	}
	cases := []struct {
		name string
		raw  []byte
		want error
	}{
		{"forged: signed by x, claims y", sealWire(t, x, validWire(y, now, 1), now), ErrForged},
		{"expired", sealWire(t, x, mod(func(w *entryWire) { w.IssuedAt, w.ExpiresAt = now-2000, now-1 }), now-2000), ErrExpired},
		{"expired long ago (outside any window)", sealWire(t, x, mod(func(w *entryWire) { w.IssuedAt, w.ExpiresAt = now-3_600_000, now-3_000_000 }), now-3_600_000), ErrExpired},
		{"from the future", sealWire(t, x, mod(func(w *entryWire) { w.IssuedAt, w.ExpiresAt = now+60_000, now+90_000 }), now+60_000), ErrFuture},
		{"lifetime beyond MaxTTL", sealWire(t, x, mod(func(w *entryWire) { w.ExpiresAt = now + int64(DefaultMaxTTL/time.Millisecond) + 1 }), now), ErrLifetime},
		{"issued-at differs from the signed time", sealWire(t, x, validWire(x, now, 1), now-5), ErrMalformed},
		{"too many addresses", sealWire(t, x, mod(func(w *entryWire) {
			w.Addrs = many(MaxAddrs+1, func(i int) string { return fmt.Sprintf("10.0.0.%d:1", i+1) })
		}), now), ErrTooLarge},
		{"too many cells", sealWire(t, x, mod(func(w *entryWire) { w.Cells = manyCells }), now), ErrTooLarge},
		{"unsorted cells", sealWire(t, x, mod(func(w *entryWire) { w.Cells = []CellRef{{"registry", 1}, {"crono", 1}} }), now), ErrMalformed},
		{"duplicate cell", sealWire(t, x, mod(func(w *entryWire) { w.Cells = []CellRef{{"crono", 1}, {"crono", 1}} }), now), ErrMalformed},
		{"no address", sealWire(t, x, mod(func(w *entryWire) { w.Addrs = nil }), now), ErrMalformed},
		{"unspecified address", sealWire(t, x, mod(func(w *entryWire) { w.Addrs = []string{"0.0.0.0:7446"} }), now), ErrMalformed},
		{"port zero", sealWire(t, x, mod(func(w *entryWire) { w.Addrs = []string{"127.0.0.1:0"} }), now), ErrMalformed},
		{"load above 100%", sealWire(t, x, mod(func(w *entryWire) { w.Load = MaxLoad + 1 }), now), ErrMalformed},
		{"zero sequence", sealWire(t, x, mod(func(w *entryWire) { w.Seq = 0 }), now), ErrMalformed},
		{"short node key", sealWire(t, x, mod(func(w *entryWire) { w.Node = w.Node[:31] }), now), ErrMalformed},
		{"oversize", sealWire(t, x, mod(func(w *entryWire) { w.Addrs = []string{"a" + strings.Repeat("b", 2000) + ":1"} }), now), ErrTooLarge},
		{"not an envelope", []byte("hello"), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(c.raw, testNetwork, now, Policy{})
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}

	good := sealWire(t, x, validWire(x, now, 1), now)
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-70] ^= 1 // inside the payload
	if _, err := Verify(tampered, testNetwork, now, Policy{}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered payload: %v", err)
	}
	resigned := append([]byte(nil), good...)
	resigned[len(resigned)-1] ^= 1
	if _, err := Verify(resigned, testNetwork, now, Policy{}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("bad signature: %v", err)
	}
}

func TestSealRefusesBadEntries(t *testing.T) {
	now := nowMs()
	_, err := Seal(newKey(t), testNetwork, Entry{Addrs: []string{"[::]:1"}, Cells: []CellRef{{"registry", 1}}, IssuedAt: now, Seq: 1, ExpiresAt: now + 1})
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("unspecified address sealed: %v", err)
	}
}

func TestTableSequenceAndTombstones(t *testing.T) {
	x := newKey(t)
	now := nowMs()
	tab := newTable(10)
	entry := func(seq uint64, load uint16) *Entry {
		w := validWire(x, now, seq)
		w.Load = load
		e, err := Verify(sealWire(t, x, w, now), testNetwork, now, Policy{})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e5 := entry(5, 0)
	if err := tab.accept(e5, now); err != nil {
		t.Fatal(err)
	}
	if err := tab.accept(e5, now); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("same entry again: %v", err)
	}
	if err := tab.accept(entry(3, 0), now); !errors.Is(err, ErrStale) {
		t.Fatalf("older sequence: %v", err)
	}
	if err := tab.accept(entry(5, 7), now); !errors.Is(err, ErrEquivocation) {
		t.Fatalf("other entry, same sequence: %v", err)
	}
	if got := tab.lookup("crono", 10, now); len(got) != 1 || got[0].Seq != 5 {
		t.Fatalf("lookup after refusals: %v", got)
	}
	e6 := entry(6, 0)
	if err := tab.accept(e6, now); err != nil {
		t.Fatal(err)
	}
	if !tab.forget(e6.Key()) || len(tab.lookup("crono", 10, now)) != 0 {
		t.Fatal("forget did not drop the node")
	}
	if err := tab.accept(e6, now); !errors.Is(err, ErrStale) {
		t.Fatalf("replay after forget: %v", err)
	}
	if err := tab.accept(entry(7, 0), now); err != nil {
		t.Fatalf("newer entry after forget: %v", err)
	}
	// Expiry: lookups filter at once, sweep frees.
	later := e6.ExpiresAt + 1
	if len(tab.lookup("crono", 10, later)) != 0 {
		t.Fatal("expired entry returned")
	}
	if n := tab.sweep(later); n != 1 || len(tab.entries) != 0 || len(tab.sorted) != 0 || len(tab.byCell) != 0 {
		t.Fatalf("sweep dropped %d, left %d/%d/%d", n, len(tab.entries), len(tab.sorted), len(tab.byCell))
	}
}

func TestTableFullAndDumpPaging(t *testing.T) {
	now := nowMs()
	tab := newTable(50)
	for i := range 50 {
		k := newKey(t)
		e, err := Verify(sealWire(t, k, validWire(k, now, uint64(i+1)), now), testNetwork, now, Policy{})
		if err != nil {
			t.Fatal(err)
		}
		if err := tab.accept(e, now); err != nil {
			t.Fatal(err)
		}
	}
	k := newKey(t)
	e, _ := Verify(sealWire(t, k, validWire(k, now, 1), now), testNetwork, now, Policy{})
	if err := tab.accept(e, now); !errors.Is(err, ErrTableFull) {
		t.Fatalf("51st node: %v", err)
	}
	seen := map[nodeKey]bool{}
	var after []byte
	for pages := 0; ; pages++ {
		page, next := tab.dump(after, 7, now)
		for _, e := range page {
			if seen[e.Key()] {
				t.Fatal("dump returned a node twice")
			}
			seen[e.Key()] = true
		}
		if next == nil {
			break
		}
		if pages > 10 {
			t.Fatal("dump does not end")
		}
		after = next
	}
	if len(seen) != 50 {
		t.Fatalf("dump returned %d of 50", len(seen))
	}
}

func TestRank(t *testing.T) {
	mk := func(load uint16, rtt time.Duration, issued int64, b byte) *Entry {
		return &Entry{Node: append(make([]byte, 31), b), Load: load, RTT: rtt, IssuedAt: issued}
	}
	es := []*Entry{mk(900, 0, 5, 1), mk(10, 0, 1, 2), mk(10, 0, 9, 3), mk(20, 5*time.Millisecond, 1, 4), mk(30, time.Millisecond, 1, 5)}
	Rank(es)
	var order []byte
	for _, e := range es {
		order = append(order, e.Node[31])
	}
	if fmt.Sprint(order) != fmt.Sprint([]byte{5, 4, 3, 2, 1}) {
		t.Fatalf("rank order %v", order)
	}
}

// TestLookupTopKMatchesFullSort: the bounded selection in lookup returns
// exactly the head of a full Rank.
func TestLookupTopKMatchesFullSort(t *testing.T) {
	now := nowMs()
	tab := newTable(1000)
	var all []*Entry
	for i := range 120 {
		k := newKey(t)
		w := validWire(k, now-int64(i%7), uint64(i+1))
		w.Load = uint16((i * 37) % 1000)
		e, err := Verify(sealWire(t, k, w, now-int64(i%7)), testNetwork, now, Policy{})
		if err != nil {
			t.Fatal(err)
		}
		if err := tab.accept(e, now); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			tab.observeRTT(e.Key(), time.Duration(i)*time.Millisecond)
		}
		all = append(all, tab.withRTT(e))
	}
	Rank(all)
	for _, limit := range []int{1, 16, 64, 200} {
		got := tab.lookup("crono", limit, now)
		want := all[:min(limit, len(all))]
		if len(got) != len(want) {
			t.Fatalf("limit %d: %d entries, want %d", limit, len(got), len(want))
		}
		for i := range got {
			if !got[i].Node.Equal(want[i].Node) || got[i].RTT != want[i].RTT {
				t.Fatalf("limit %d: position %d differs", limit, i)
			}
		}
	}
}

func TestAdvertisedAddress(t *testing.T) {
	if got := advertised("127.0.0.1:7446"); got != "127.0.0.1:7446" {
		t.Fatalf("specific address changed: %s", got)
	}
	got := advertised("0.0.0.0:7446")
	if err := checkAddr(got); err != nil && got != "0.0.0.0:7446" {
		t.Fatalf("wildcard became %s: %v", got, err)
	}
	t.Logf("0.0.0.0:7446 advertised as %s", got)
}
