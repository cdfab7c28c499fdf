package identity

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// fuzzKDFLimits keep fuzzed KDF settings cheap so the fuzzer explores
// parsing rather than waiting on Argon2.
var fuzzKDFLimits = kdfLimits{maxTime: 2, maxMemoryKiB: 256}

func FuzzOpenKeyFile(f *testing.F) {
	pass := []byte("fuzz passphrase")
	good, err := SealKeyFile(testSeed(), pass, testKDF)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, pass, false)
	f.Add(good, []byte("wrong"), false)
	f.Add(good[:len(good)-1], pass, true)
	f.Add([]byte(keyFileMagic), pass, true)
	f.Add([]byte{}, []byte{}, false)
	f.Fuzz(func(t *testing.T, data, pass []byte, fixChecksum bool) {
		// With fixChecksum the fuzzer gets past the outer checksum and
		// reaches the header, KDF bounds and AEAD.
		if fixChecksum && len(data) >= 32 {
			data = fixSum(bytes.Clone(data))
		}
		seed, err := openKeyFile(data, pass, fuzzKDFLimits)
		if err == nil {
			if len(seed) != seedLen {
				t.Fatalf("opened with a %d-byte seed", len(seed))
			}
			return
		}
		if !errors.Is(err, ErrCorruptKeyFile) && !errors.Is(err, ErrUnsupportedKeyFile) && !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("error outside the documented set: %v", err)
		}
	})
}

func FuzzParseAddress(f *testing.F) {
	f.Add(Address(testKey(1)))
	f.Add(strings.ToUpper(Address(testKey(2))))
	for _, s := range bech32mValid {
		f.Add(s)
	}
	for s := range bech32mInvalid {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pub, err := ParseAddress(s)
		if err != nil {
			return
		}
		// One key has one address: anything accepted re-encodes to the
		// input up to case and surrounding space.
		if got := Address(pub); got != strings.ToLower(strings.TrimSpace(s)) {
			t.Fatalf("ParseAddress(%q) re-encodes to %q", s, got)
		}
	})
}

func FuzzBech32mDecode(f *testing.F) {
	for _, s := range bech32mValid {
		f.Add(s)
	}
	for s := range bech32mInvalid {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hrp, data, err := bech32mDecode(s)
		if err != nil {
			return
		}
		if got := bech32mEncode(hrp, data); got != strings.ToLower(s) {
			t.Fatalf("decode/encode of %q gives %q", s, got)
		}
	})
}

func FuzzValidateMnemonic(f *testing.F) {
	f.Add(canonical24)
	f.Add("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about")
	f.Add("  ZOO zoo\tzoo zoo zoo zoo zoo zoo zoo zoo zoo wrong ")
	f.Add("abandn")
	f.Add("caf\u00e9 \uff41\uff52\uff54")
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeMnemonic(s)
		if NormalizeMnemonic(n) != n {
			t.Fatalf("NormalizeMnemonic not idempotent on %q", s)
		}
		entropy, err := EntropyFromMnemonic(s)
		if err != nil {
			var we *WordError
			if !errors.As(err, &we) && !errors.Is(err, ErrWordCount) && !errors.Is(err, ErrChecksum) {
				t.Fatalf("error outside the documented set: %v", err)
			}
			return
		}
		m, err := MnemonicFromEntropy(entropy)
		if err != nil || m != n {
			t.Fatalf("valid phrase %q does not round-trip: %q, %v", s, m, err)
		}
	})
}

func FuzzParsePath(f *testing.F) {
	for _, p := range []string{"m", "m/0'", AccountPath, "m/1h/2H", "m/0", "m/2147483648'"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		idx, err := ParsePath(p)
		if err != nil {
			return
		}
		// Every accepted path has one canonical spelling that parses to
		// the same indices.
		var b strings.Builder
		b.WriteString("m")
		for _, i := range idx {
			if i&HardenedOffset == 0 {
				t.Fatalf("%q gave an unhardened index", p)
			}
			fmt.Fprintf(&b, "/%d'", i&^HardenedOffset)
		}
		again, err := ParsePath(b.String())
		if err != nil || !slices.Equal(again, idx) {
			t.Fatalf("%q: canonical form %q parses to %v, %v", p, b.String(), again, err)
		}
	})
}
