package registry

import (
	"crypto/ed25519"
	"crypto/sha512"
	"testing"
	"time"
)

// BenchmarkVerifyEntry measures Verify of one signed entry (decode,
// signature, CBOR, field rules) and, in the same run, the bare Ed25519
// verification it cannot avoid; the ratio is the cost of everything else.
func BenchmarkVerifyEntry(b *testing.B) {
	key := newKey(b)
	now := nowMs()
	raw := sealWire(b, key, validWire(key, now, 1), now)
	b.SetBytes(int64(len(raw)))
	msg := sha512.Sum512(raw)
	sig := ed25519.Sign(key, msg[:])
	pub := key.Public().(ed25519.PublicKey)

	var entryNs, baseNs time.Duration
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := Verify(raw, testNetwork, now, Policy{}); err != nil {
			b.Fatal(err)
		}
	}
	entryNs = time.Since(start)
	start = time.Now()
	for range b.N {
		if !ed25519.Verify(pub, msg[:], sig) {
			b.Fatal("baseline")
		}
	}
	baseNs = time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(entryNs.Nanoseconds())/float64(b.N), "ns/entry")
	b.ReportMetric(float64(baseNs.Nanoseconds())/float64(b.N), "ns/ed25519")
	b.ReportMetric(float64(entryNs)/float64(baseNs), "x-ed25519")
}

// BenchmarkIngest is a node taking in refreshed entries from a 1000-node
// network: verify, then replace the held entry.
func BenchmarkIngest(b *testing.B) {
	const nodes = 1000
	now := nowMs()
	tab := newTable(DefaultMaxEntries)
	keys := make([]ed25519.PrivateKey, nodes)
	for i := range keys {
		keys[i] = newKey(b)
	}
	raws := make([][]byte, 0, b.N)
	for i := range b.N {
		raws = append(raws, sealWire(b, keys[i%nodes], validWire(keys[i%nodes], now, uint64(i+1)), now))
	}
	b.ResetTimer()
	start := time.Now()
	for _, raw := range raws {
		e, err := Verify(raw, testNetwork, now, Policy{})
		if err == nil {
			err = tab.accept(e, now)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
}

// BenchmarkLookup answers "best 16 nodes for crono" from a table of 10 000
// nodes of which a quarter run crono.
func BenchmarkLookup(b *testing.B) {
	now := nowMs()
	tab := newTable(DefaultMaxEntries)
	for i := range 10_000 {
		k := newKey(b)
		w := validWire(k, now, 1)
		w.Load = uint16(i % 1000)
		if i%4 != 0 {
			w.Cells = []CellRef{{"registry", 1}}
		}
		e, err := Verify(sealWire(b, k, w, now), testNetwork, now, Policy{})
		if err != nil {
			b.Fatal(err)
		}
		if err := tab.accept(e, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if got := tab.lookup("crono", DefaultLookupLimit, now); len(got) != DefaultLookupLimit {
			b.Fatal(len(got))
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/lookup")
}
