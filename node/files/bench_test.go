package files

import (
	"crypto/ed25519"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkResolveTips: two tips that diverged 50 heads ago, over a line
// of 500; the walk finds the base. Reports the heads the walk fetched.
func BenchmarkResolveTips(b *testing.B) {
	k := newDagKit(b)
	all := map[HeadHash]*SignedHead{}
	add := func(h *SignedHead) *SignedHead { all[h.hash] = h; return h }
	cur := add(k.head())
	for range 500 {
		cur = add(k.head(cur))
	}
	x, y := cur, cur
	for range 50 {
		x, y = add(k.head(x)), add(k.head(y))
	}
	fetched := 0
	fetch := func(hs []HeadHash) []*SignedHead {
		var out []*SignedHead
		for _, h := range hs {
			if got := all[h]; got != nil {
				out = append(out, got)
				fetched++
			}
		}
		return out
	}
	b.ResetTimer()
	for b.Loop() {
		if live, base := resolveTips([]*SignedHead{x, y}, fetch); len(live) != 2 || base != cur {
			b.Fatal("wrong base")
		}
	}
	b.ReportMetric(float64(fetched)/float64(b.N), "heads-fetched/op")
}

// BenchmarkIngestPut: a holder taking the owner's next head (compare and
// swap over the tips, history, fsynced commit), against a bare bbolt
// commit of the same bytes as the baseline.
func BenchmarkIngestPut(b *testing.B) {
	k := newDagKit(b)
	acct := k.key.Public().(ed25519.PublicKey)
	run := func(b *testing.B, put func(tx *bolt.Tx, h *SignedHead) error) {
		db, err := bolt.Open(b.TempDir()+"/h.db", 0o600, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(bucketAccounts)
			return err
		})
		prev := k.head()
		b.SetBytes(int64(len(prev.raw)))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			h := k.head(prev)
			prev = h
			b.StartTimer()
			if err := db.Update(func(tx *bolt.Tx) error { return put(tx, h) }); err != nil {
				b.Fatal(err)
			}
		}
	}
	var ingest0, bare float64
	b.Run("ingest", func(b *testing.B) {
		first := true
		run(b, func(tx *bolt.Tx, h *SignedHead) error {
			a := openAccount(tx, acct, true)
			if first {
				// The first head of this run has a parent this store never
				// saw: a sync, not a put.
				first = false
				return ingest(a, h, false)
			}
			if err := ingest(a, h, true); err != nil {
				return err
			}
			return a.evict()
		})
		ingest0 = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("bare-commit", func(b *testing.B) {
		run(b, func(tx *bolt.Tx, h *SignedHead) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("bare"))
			if err != nil {
				return err
			}
			return bk.Put(h.hash[:], h.raw)
		})
		bare = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		if ingest0 > 0 {
			b.ReportMetric(ingest0/bare, "ingest/bare")
		}
	})
}
