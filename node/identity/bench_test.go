package identity

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/tyler-smith/go-bip39"
	"golang.org/x/crypto/argon2"
)

// baseline times fn in the same process run as the benchmark it is
// compared with (testing.Benchmark cannot nest inside a benchmark): doubling
// batches until one lasts 200 ms, or 3 calls for slow functions.
func baseline(fn func()) (nsPerOp float64) {
	for n := 1; ; n *= 2 {
		start := time.Now()
		for range n {
			fn()
		}
		if d := time.Since(start); d >= 200*time.Millisecond || (n >= 3 && d >= 50*time.Millisecond) {
			return float64(d.Nanoseconds()) / float64(n)
		}
	}
}

// reportVs reports ours/baseline. Call after the b.Loop loop.
func reportVs(b *testing.B, name string, baseNs float64) {
	b.Helper()
	ours := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(baseNs, name+"-ns/op")
	b.ReportMetric(ours/baseNs, "x-vs-"+name)
}

// The cost of turning a phrase into a seed is PBKDF2's 2048 rounds; the
// ratio shows what normalising and validating add to go-bip39's bare
// NewSeed.
func BenchmarkSeedFromMnemonic(b *testing.B) {
	base := baseline(func() {
		bip39.NewSeed(canonical24, "TREZOR")
	})
	b.ResetTimer()
	for b.Loop() {
		if _, err := SeedFromMnemonic(canonical24, "TREZOR"); err != nil {
			b.Fatal(err)
		}
	}
	reportVs(b, "bip39-NewSeed", base)
}

func BenchmarkKeysFromSeed(b *testing.B) {
	seed := testSeed()
	for b.Loop() {
		k, err := KeysFromSeed(seed)
		if err != nil {
			b.Fatal(err)
		}
		k.Wipe()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/identity")
}

func BenchmarkDeriveSLIP10(b *testing.B) {
	seed := testSeed()
	for b.Loop() {
		if _, _, err := DeriveSLIP10(seed, AccountPath); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAddress(b *testing.B) {
	pub := testKey(7)
	base := baseline(func() {
		_ = hex.EncodeToString(pub)
	})
	b.ResetTimer()
	b.SetBytes(int64(len(pub)))
	for b.Loop() {
		_ = Address(pub)
	}
	reportVs(b, "hex", base)
}

func BenchmarkParseAddress(b *testing.B) {
	pub := testKey(7)
	a, h := Address(pub), hex.EncodeToString(pub)
	base := baseline(func() {
		if _, err := hex.DecodeString(h); err != nil {
			panic(err)
		}
	})
	b.ResetTimer()
	b.SetBytes(int64(len(a)))
	for b.Loop() {
		if _, err := ParseAddress(a); err != nil {
			b.Fatal(err)
		}
	}
	reportVs(b, "hex", base)
}

// BenchmarkOpenKeyFileDefault is the unlock delay a person feels with the
// production Argon2id settings; the baseline is Argon2id alone, so the
// ratio is the format's overhead (about 1).
func BenchmarkOpenKeyFileDefault(b *testing.B) {
	pass := []byte("correct horse battery staple")
	f, err := SealKeyFile(testSeed(), pass, DefaultKDFParams)
	if err != nil {
		b.Fatal(err)
	}
	p := DefaultKDFParams
	salt := make([]byte, keyFileSaltLen)
	base := baseline(func() {
		argon2.IDKey(pass, salt, p.Time, p.MemoryKiB, p.Threads, 32)
	})
	b.ResetTimer()
	for b.Loop() {
		if _, err := OpenKeyFile(f, pass); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/unlock")
	reportVs(b, "argon2id", base)
}
