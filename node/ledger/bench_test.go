package ledger

import (
	"crypto/ed25519"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkCertifiedTransfers runs the whole transfer path with four
// in-process witnesses on real bbolt files: owners sign sends, every
// witness checks and persists its votes (one fsync per batch, group
// commit) and signs, the client verifies the votes and builds
// certificates, and every witness verifies and stores the certificates.
// Finality latency is from handing a batch to the witnesses to holding its
// certificates. The QUIC round trip is not included (the runtime adds it).
func BenchmarkCertifiedTransfers(b *testing.B) {
	for _, batch := range []int{16, 64, 256} {
		b.Run("batch="+itoa(batch), func(b *testing.B) { benchTransfers(b, batch) })
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var d []byte
	for ; i > 0; i /= 10 {
		d = append([]byte{byte('0' + i%10)}, d...)
	}
	return string(d)
}

func benchTransfers(b *testing.B, batch int) {
	const accounts = 512
	g := testGenesis(b, accounts, DefaultParams())
	dir := b.TempDir()
	keys := make([]ed25519.PrivateKey, accounts)
	for i := range keys {
		keys[i] = testKey("user", i)
	}
	ws := make([]*Witness, numWitness)
	for i := range ws {
		st, err := OpenBoltStore(dir + "/w" + itoa(i) + ".db")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		// Each witness holds its own genesis (its own signature cache), as
		// separate processes would.
		if ws[i], err = OpenWitness(cloneGenesis(b, g), testKey("witness", i), st); err != nil {
			b.Fatal(err)
		}
	}
	heads := NewLedger(g) // the clients' view of their own chain heads
	var latencies []time.Duration
	next := 0
	fee := g.Params.TransferFee

	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	for done := 0; done < b.N; done += batch {
		blocks := make([]*Block, batch)
		for j := range blocks {
			k := keys[next%accounts]
			to := idOf(keys[(next+1)%accounts])
			next++
			seq, prev := heads.Head(idOf(k))
			blocks[j] = NewBlock(g, k, seq, prev, &Send{To: to, Amount: 1, Fee: fee})
		}
		t0 := time.Now()
		votes := make([][]Vote, numWitness)
		parallel(numWitness, func(i int) {
			vs, errs := ws[i].VoteBatch(blocks, startTime)
			for _, err := range errs {
				if err != nil {
					b.Error(err)
				}
			}
			votes[i] = vs
		})
		certs := make([]*Certificate, batch)
		parallel(2, func(half int) {
			for j := half; j < batch; j += 2 {
				cb := NewCertBuilder(g, blocks[j])
				for i := range numWitness {
					c, err := cb.Add(votes[i][j])
					if err != nil {
						b.Error(err)
					}
					if c != nil {
						certs[j] = c
						break
					}
				}
			}
		})
		final := time.Since(t0)
		for range batch {
			latencies = append(latencies, final)
		}
		parallel(numWitness, func(i int) {
			if err := ws[i].ConfirmBatch(certs); err != nil {
				b.Error(err)
			}
		})
		for _, c := range certs {
			if _, err := heads.add(c, false); err != nil {
				b.Fatal(err)
			}
		}
	}
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	n := len(latencies)
	slices.Sort(latencies)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "transfers/s")
	b.ReportMetric(float64(latencies[n/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[n*99/100].Microseconds())/1000, "p99-ms")
	// The CPU baseline: unbatched, each transfer cost 4 owner-signature
	// checks, 4 vote signatures, 3 vote checks by the client and 2
	// certificate checks per witness (8); what two cores could do with
	// nothing else. Batched votes (one signature per witness per batch,
	// checked once per root) are what lets the path beat it. Measured in
	// the same run, so machine load skews both alike.
	sign, verify := edCosts()
	perTransfer := 4*sign + 15*verify
	bound := 2 / perTransfer.Seconds()
	b.ReportMetric(bound, "cpu-bound-transfers/s")
	b.ReportMetric(float64(n)/elapsed.Seconds()/bound, "ratio-to-cpu-bound")
	if cpu > 0 {
		// CPU time per transfer and the rate two idle cores would give:
		// the load-independent figures on a shared machine.
		perCPU := cpu / time.Duration(n)
		b.ReportMetric(float64(perCPU.Microseconds()), "cpu-us/transfer")
		b.ReportMetric(2/perCPU.Seconds(), "idle-2core-transfers/s")
	}
	for _, w := range ws {
		if err := w.Ledger().CheckConservation(); err != nil {
			b.Fatal(err)
		}
	}
}

func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); f(i) }()
	}
	wg.Wait()
}

// edCosts measures one Ed25519 signature and one verification now.
func edCosts() (sign, verify time.Duration) {
	k := testKey("bench", 0)
	msg := make([]byte, 32)
	const n = 300
	t := time.Now()
	var sig []byte
	for range n {
		sig = ed25519.Sign(k, msg)
	}
	sign = time.Since(t) / n
	t = time.Now()
	for range n {
		ed25519.Verify(k.Public().(ed25519.PublicKey), msg, sig)
	}
	return sign, time.Since(t) / n
}

// BenchmarkPrimitives reports the costs the ledger is built from: Ed25519
// sign and verify, and one committed, fsynced bbolt transaction.
func BenchmarkPrimitives(b *testing.B) {
	b.Run("ed25519-sign", func(b *testing.B) {
		k := testKey("bench", 0)
		msg := make([]byte, 32)
		for b.Loop() {
			ed25519.Sign(k, msg)
		}
	})
	b.Run("ed25519-verify", func(b *testing.B) {
		k := testKey("bench", 0)
		msg := make([]byte, 32)
		sig := ed25519.Sign(k, msg)
		for b.Loop() {
			ed25519.Verify(k.Public().(ed25519.PublicKey), msg, sig)
		}
	})
	b.Run("bbolt-fsync-commit", func(b *testing.B) {
		db, err := bolt.Open(b.TempDir()+"/f.db", 0o600, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		i := uint64(0)
		for b.Loop() {
			i++
			db.Update(func(tx *bolt.Tx) error {
				bk, _ := tx.CreateBucketIfNotExists([]byte("x"))
				return bk.Put(voteKey(AccountID{}, i), make([]byte, 200))
			})
		}
	})
	b.Run("block-encode-decode", func(b *testing.B) {
		g := testGenesis(b, 2, DefaultParams())
		blk := NewBlock(g, testKey("user", 0), 0, Hash{}, &Send{To: idOf(testKey("user", 1)), Amount: 1, Fee: g.Params.TransferFee})
		enc := blk.Encode()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			if _, err := DecodeBlock(blk.Encode()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
