package wire

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// Run: go test -run '^$' -bench . -benchmem ./node/wire/
//
// BenchmarkVsRaw is the comparison to quote: it times raw crypto/ed25519
// over the payload and the envelope operation alternately in the same
// loop, so both see the same machine state, and reports x_raw =
// median envelope time / median raw time.

var benchSizes = []struct {
	name string
	n    int
}{{"64B", 64}, {"64KiB", 64 << 10}}

func benchPayload(n int) []byte {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return p
}

func reportOps(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}

// envelopePool pre-seals distinct envelopes: Verify refuses a second copy
// of one, so a benchmark needs fresh ones and must not time their sealing.
func envelopePool(b *testing.B, priv ed25519.PrivateKey, payload []byte, n int) [][]byte {
	pool := make([][]byte, n)
	for i := range pool {
		pool[i] = mustSeal(b, priv, testHeader(testT0), payload)
	}
	return pool
}

// poolSize keeps a pool of 64 KiB envelopes at 16 MiB.
func poolSize(payload int) int {
	if payload > 4096 {
		return 256
	}
	return 4096
}

func BenchmarkSeal(b *testing.B) {
	priv := testKey(1)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			payload := benchPayload(s.n)
			h := testHeader(testT0)
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Seal(priv, h, payload); err != nil {
					b.Fatal(err)
				}
			}
			reportOps(b)
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	priv := testKey(1)
	now := func() int64 { return testT0 }
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			pool := envelopePool(b, priv, benchPayload(s.n), poolSize(s.n))
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			var v *Verifier
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%len(pool) == 0 {
					b.StopTimer()
					v = NewVerifier(Config{Network: testNetwork, Now: now})
					b.StartTimer()
				}
				if _, err := v.Verify(pool[i%len(pool)]); err != nil {
					b.Fatal(err)
				}
			}
			reportOps(b)
		})
	}
}

func BenchmarkEd25519Sign(b *testing.B) {
	priv := testKey(1)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			msg := benchPayload(s.n)
			b.SetBytes(int64(s.n))
			for b.Loop() {
				ed25519.Sign(priv, msg)
			}
			reportOps(b)
		})
	}
}

func BenchmarkEd25519Verify(b *testing.B) {
	priv := testKey(1)
	pub := priv.Public().(ed25519.PublicKey)
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			msg := benchPayload(s.n)
			sig := ed25519.Sign(priv, msg)
			b.SetBytes(int64(s.n))
			for b.Loop() {
				if !ed25519.Verify(pub, msg, sig) {
					b.Fatal("verify failed")
				}
			}
			reportOps(b)
		})
	}
}

// BenchmarkVsRaw alternates a raw Ed25519 operation over the payload with
// the envelope operation on the same payload, timing each separately;
// x_raw is the ratio of the median times.
func BenchmarkVsRaw(b *testing.B) {
	priv := testKey(1)
	pub := priv.Public().(ed25519.PublicKey)
	now := func() int64 { return testT0 }
	// Medians, not means: on a shared machine one preempted operation
	// would otherwise swing the ratio.
	report := func(b *testing.B, raw, env []time.Duration) {
		median := func(d []time.Duration) float64 {
			slices.Sort(d)
			return float64(d[len(d)/2])
		}
		r, e := median(raw), median(env)
		b.ReportMetric(r, "raw_ns/op")
		b.ReportMetric(e, "env_ns/op")
		b.ReportMetric(e/r, "x_raw")
	}
	for _, s := range benchSizes {
		b.Run("Seal/"+s.name, func(b *testing.B) {
			payload := benchPayload(s.n)
			h := testHeader(testT0)
			var raw, env []time.Duration
			for b.Loop() {
				t0 := time.Now()
				ed25519.Sign(priv, payload)
				t1 := time.Now()
				if _, err := Seal(priv, h, payload); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				raw = append(raw, t1.Sub(t0))
				env = append(env, t2.Sub(t1))
			}
			report(b, raw, env)
		})
		b.Run("Verify/"+s.name, func(b *testing.B) {
			payload := benchPayload(s.n)
			sig := ed25519.Sign(priv, payload)
			pool := envelopePool(b, priv, payload, poolSize(s.n))
			var raw, env []time.Duration
			var v *Verifier
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%len(pool) == 0 {
					v = NewVerifier(Config{Network: testNetwork, Now: now})
				}
				t0 := time.Now()
				ok := ed25519.Verify(pub, payload, sig)
				t1 := time.Now()
				_, err := v.Verify(pool[i%len(pool)])
				t2 := time.Now()
				if !ok || err != nil {
					b.Fatal(ok, err)
				}
				raw = append(raw, t1.Sub(t0))
				env = append(env, t2.Sub(t1))
			}
			report(b, raw, env)
		})
	}
}

// BenchmarkReplayCacheParallel measures the one serialised step of Verify
// (the locked replay lookup and insert) under contention, without the
// signature check that dominates a real Verify. If this is far below the
// per-core Verify time, the single lock is not a bottleneck.
func BenchmarkReplayCacheParallel(b *testing.B) {
	c := newReplayCache(DefaultReplayCapacity, DefaultWindow.Milliseconds())
	var seq atomic.Uint64
	var clock atomic.Int64
	clock.Store(testT0)
	b.RunParallel(func(pb *testing.PB) {
		var k replayKey
		for pb.Next() {
			n := seq.Add(1)
			binary.BigEndian.PutUint64(k[40:], n)
			now := clock.Load()
			if n%1024 == 0 {
				now = clock.Add(64) // entries keep expiring, the cache stays bounded
			}
			if c.contains(k) {
				b.Fatal("fresh key found")
			}
			if err := c.add(k, now, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(c.len()), "live_entries")
}

func BenchmarkCBOR(b *testing.B) {
	v := cborSample{Name: "shard", Count: 12345, Ratio: 0.25, Blob: make([]byte, 256),
		Tags: []string{"a", "b", "c"}, Attrs: map[string]uint32{"x": 1, "y": 2, "z": 3}}
	enc, err := Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("Marshal/%dB", len(enc)), func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Marshal(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("Unmarshal/%dB", len(enc)), func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		b.ReportAllocs()
		for b.Loop() {
			var out cborSample
			if err := Unmarshal(enc, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
