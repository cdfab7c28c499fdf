package ledger

import (
	"bufio"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/oasisprotocol/curve25519-voi/curve"
)

// agree checks that verifySig and the cached path decide exactly as
// crypto/ed25519 does for (pub, msg, sig), and returns that decision.
func agree(t testing.TB, kc *keyCache, pub, msg, sig []byte, what string) bool {
	t.Helper()
	want := len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
	if got := verifySig(pub, msg, sig); got != want {
		t.Fatalf("%s: voi says %v, crypto/ed25519 says %v (pub %x sig %x msg %x)", what, got, want, pub, sig, msg)
	}
	if len(pub) == ed25519.PublicKeySize && len(sig) == ed25519.SignatureSize {
		var s Signature
		copy(s[:], sig)
		if got := kc.verify(AccountID(pub), msg, &s); got != want {
			t.Fatalf("%s: voi with expanded key says %v, crypto/ed25519 says %v (pub %x sig %x msg %x)", what, got, want, pub, sig, msg)
		}
	}
	return want
}

func gunzipFile(t *testing.T, name string) []byte {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		sb.WriteString(sc.Text())
		sb.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return []byte(sb.String())
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// groupOrder is L = 2^252 + 27742317777372353535851937790883648493.
func groupOrder() *big.Int {
	l, _ := new(big.Int).SetString("27742317777372353535851937790883648493", 10)
	return l.Add(l, new(big.Int).Lsh(big.NewInt(1), 252))
}

// leToInt and intToLE32 convert the little-endian scalars of Ed25519.
func leToInt(b []byte) *big.Int {
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	return new(big.Int).SetBytes(be)
}

func intToLE32(x *big.Int) ([]byte, bool) {
	be := x.Bytes()
	if len(be) > 32 {
		return nil, false
	}
	out := make([]byte, 32)
	for i := range be {
		out[i] = be[len(be)-1-i]
	}
	return out, true
}

// TestVerifierAgrees: voi (plain and with expanded keys) accepts and
// refuses exactly what crypto/ed25519 does, and signs the same bytes.
// Witnesses that disagreed on a signature would split their votes.
func TestVerifierAgrees(t *testing.T) {
	kc := newKeyCache(64) // small: the eviction path runs too
	L := groupOrder()

	// RFC 8032 section 7.1 tests 1-3 are the first lines of the SUPERCOP
	// vectors (from Go's crypto/ed25519 testdata).
	lines := strings.Split(strings.TrimSpace(string(gunzipFile(t, "testdata/ed25519_sign.input.gz"))), "\n")
	if len(lines) < 128 {
		t.Fatalf("%d vectors", len(lines))
	}
	rfc1 := "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
	if !strings.Contains(lines[0], rfc1) {
		t.Fatal("first vector is not RFC 8032 test 1")
	}
	nonCanonS := 0
	for i, line := range lines {
		parts := strings.Split(line, ":")
		if len(parts) != 5 {
			t.Fatalf("vector %d: %d fields", i, len(parts))
		}
		priv := ed25519.PrivateKey(unhex(t, parts[0]))
		pub := unhex(t, parts[1])
		msg := unhex(t, parts[2])
		sig := unhex(t, parts[3])[:ed25519.SignatureSize]
		if got := signMsg(priv, msg); string(got) != string(sig) {
			t.Fatalf("vector %d: voi signs %x, want %x", i, got, sig)
		}
		if !agree(t, kc, pub, msg, sig, "vector") {
			t.Fatalf("vector %d refused", i)
		}
		// One flipped bit anywhere in the signature or message.
		bad := append([]byte(nil), sig...)
		bad[i%64] ^= 1 << (i % 8)
		if agree(t, kc, pub, msg, bad, "flipped signature bit") {
			t.Fatalf("vector %d: flipped signature accepted", i)
		}
		if len(msg) > 0 {
			m := append([]byte(nil), msg...)
			m[i%len(m)] ^= 0x80
			agree(t, kc, pub, m, sig, "flipped message bit")
		}
		// Non-canonical S: S + L encodes the same scalar; both refuse it.
		s := leToInt(sig[32:])
		if enc, ok := intToLE32(new(big.Int).Add(s, L)); ok {
			nc := append(append([]byte(nil), sig[:32]...), enc...)
			if agree(t, kc, pub, msg, nc, "S+L") {
				t.Fatalf("vector %d: non-canonical S accepted", i)
			}
			nonCanonS++
		}
	}
	if nonCanonS != len(lines) {
		t.Fatalf("only %d non-canonical S cases", nonCanonS)
	}

	// The 12 cases of "Taming the many EdDSAs" (Chalkias, Garillot,
	// Nikolaenko), ed25519-speccheck's cases.json: small-order and mixed
	// A and R, cofactored-only signatures, non-canonical S, R and A.
	var cases []struct {
		Message   string `json:"message"`
		PubKey    string `json:"pub_key"`
		Signature string `json:"signature"`
	}
	if err := json.Unmarshal(gunzipFile(t, "testdata/ed25519_speccheck_cases.json.gz"), &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) != 12 {
		t.Fatalf("%d speccheck cases", len(cases))
	}
	accepted := 0
	for i, c := range cases {
		if agree(t, kc, unhex(t, c.PubKey), unhex(t, c.Message), unhex(t, c.Signature), "speccheck case "+itoa(i)) {
			accepted++
		}
	}
	t.Logf("speccheck: both accept %d of 12", accepted)

	// Small-order public keys and R values, canonical and not: whether
	// [S]B = R + [k]A holds then depends on k = H(R, A, M) mod 8, so over
	// many messages both verifiers must accept the same ones.
	small := []string{
		"0100000000000000000000000000000000000000000000000000000000000000", // identity
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
		"0000000000000000000000000000000000000000000000000000000000000000", // order 4
		"0000000000000000000000000000000000000000000000000000000000000080",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
	}
	nonCanon := []string{
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p+1: identity
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p, sign set
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"0100000000000000000000000000000000000000000000000000000000000080", // identity, "-0"
	}
	for _, s := range small {
		var cy curve.CompressedEdwardsY
		var p curve.EdwardsPoint
		if _, err := cy.SetBytes(unhex(t, s)); err != nil {
			t.Fatal(err)
		}
		if _, err := p.SetCompressedY(&cy); err != nil || !p.IsSmallOrder() {
			t.Fatalf("%s is not a small-order point (%v)", s, err)
		}
	}
	keys := append(append([]string{}, small...), nonCanon...)
	_, honest, _ := ed25519.GenerateKey(nil)
	keys = append(keys, hex.EncodeToString(honest.Public().(ed25519.PublicKey)))
	sVals := []*big.Int{big.NewInt(0), big.NewInt(1), new(big.Int).Set(L)}
	accepted = 0
	total := 0
	for _, a := range keys {
		for _, r := range keys {
			for _, s := range sVals {
				enc, _ := intToLE32(s)
				sig := append(unhex(t, r), enc...)
				for m := range 24 {
					msg := []byte{byte(m), 'x'}
					if agree(t, kc, unhex(t, a), msg, sig, "small-order A/R") {
						accepted++
					}
					total++
				}
			}
		}
	}
	if accepted == 0 || accepted == total {
		t.Fatalf("small-order cases: %d of %d accepted; the test exercises nothing", accepted, total)
	}
	t.Logf("small-order and non-canonical A/R: both accept %d of %d", accepted, total)

	// Keys that are not points at all.
	for _, s := range []string{
		"0200000000000000000000000000000000000000000000000000000000000000",
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	} {
		agree(t, kc, unhex(t, s), []byte("m"), make([]byte, 64), "undecodable key "+s)
	}
	if kc.len() > 64 {
		t.Fatalf("key cache holds %d, limit 64", kc.len())
	}
}

// FuzzVerifierAgrees looks for any (key, message, signature) on which voi
// and crypto/ed25519 decide differently.
func FuzzVerifierAgrees(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := []byte("borgios")
	sig := ed25519.Sign(priv, msg)
	f.Add([]byte(pub), msg, sig)
	f.Add(make([]byte, 32), msg, make([]byte, 64))
	id := make([]byte, 32)
	id[0] = 1
	f.Add(id, msg, append(append([]byte(nil), id...), make([]byte, 32)...))
	kc := newKeyCache(16)
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
			if verifySig(pub, msg, sig) {
				t.Fatal("accepted a key or signature of the wrong length")
			}
			return
		}
		agree(t, kc, pub, msg, sig, "fuzz")
	})
}

func TestKeyCacheBounded(t *testing.T) {
	kc := newKeyCache(2)
	var ids []AccountID
	for i := range 3 {
		pub := testKeyN(t, i)
		ids = append(ids, pub)
	}
	kc.expanded(ids[0])
	kc.expanded(ids[1])
	kc.expanded(ids[0]) // now most recent
	kc.expanded(ids[2]) // evicts ids[1]
	if kc.len() != 2 {
		t.Fatalf("cache holds %d, limit 2", kc.len())
	}
	kc.mu.Lock()
	_, has0 := kc.m[ids[0]]
	_, has1 := kc.m[ids[1]]
	kc.mu.Unlock()
	if !has0 || has1 {
		t.Fatalf("LRU kept the wrong key: has0 %v has1 %v", has0, has1)
	}
	var bad AccountID
	bad[0] = 2 // not a point
	if kc.expanded(bad) != nil || kc.len() != 2 {
		t.Fatal("an undecodable key was cached")
	}
}

func testKeyN(t *testing.T, i int) AccountID {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = byte(i + 1)
	return AccountID(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
}

// BenchmarkVerifier compares the verifiers in one run: crypto/ed25519,
// voi, and voi with the key expanded (a witness's cached path).
func BenchmarkVerifier(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 32)
	sig := ed25519.Sign(priv, msg)
	var s Signature
	copy(s[:], sig)
	measure := func(f func()) time.Duration {
		t0 := time.Now()
		for range 300 {
			f()
		}
		return time.Since(t0) / 300
	}
	std := measure(func() { ed25519.Verify(pub, msg, sig) })
	b.Run("crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			ed25519.Verify(pub, msg, sig)
		}
	})
	b.Run("voi", func(b *testing.B) {
		for b.Loop() {
			verifySig(pub, msg, sig)
		}
		b.ReportMetric(float64(std.Nanoseconds())/float64(measure(func() { verifySig(pub, msg, sig) }).Nanoseconds()), "speedup")
	})
	b.Run("voi-expanded", func(b *testing.B) {
		kc := newKeyCache(16)
		for b.Loop() {
			kc.verify(AccountID(pub), msg, &s)
		}
		b.ReportMetric(float64(std.Nanoseconds())/float64(measure(func() { kc.verify(AccountID(pub), msg, &s) }).Nanoseconds()), "speedup")
	})
	b.Run("sign/crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			ed25519.Sign(priv, msg)
		}
	})
	b.Run("sign/voi", func(b *testing.B) {
		for b.Loop() {
			signMsg(priv, msg)
		}
	})
}
