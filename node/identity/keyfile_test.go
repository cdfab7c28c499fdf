package identity

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
)

// testKDF is cheap so tests stay fast; production uses DefaultKDFParams.
var testKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

func testSeed() []byte { return bytes.Repeat([]byte{0x42}, 64) }

func sealTest(t testing.TB) []byte {
	t.Helper()
	f, err := SealKeyFile(testSeed(), []byte("hunter2 is not a passphrase"), testKDF)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fixSum recomputes the outer checksum after a test edits the file.
func fixSum(f []byte) []byte {
	sum := sha256.Sum256(f[:len(f)-32])
	copy(f[len(f)-32:], sum[:])
	return f
}

func TestKeyFileRoundTrip(t *testing.T) {
	f := sealTest(t)
	if len(f) != KeyFileSize {
		t.Errorf("key file is %d bytes, want %d", len(f), KeyFileSize)
	}
	seed, err := OpenKeyFile(f, []byte("hunter2 is not a passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(seed, testSeed()) {
		t.Error("seed changed in the round trip")
	}
	k, err := KeysFromKeyFile(f, []byte("hunter2 is not a passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := KeysFromSeed(testSeed())
	if !bytes.Equal(k.Account, want.Account) || k.FileRoot != want.FileRoot {
		t.Error("keys from key file differ from keys from seed")
	}
	// Fresh salt and nonce each time.
	if bytes.Equal(f, sealTest(t)) {
		t.Error("two seals of the same seed are identical")
	}
}

func TestKeyFilePassphraseNFKD(t *testing.T) {
	f, err := SealKeyFile(testSeed(), []byte("caf\u00e9"), testKDF)
	if err != nil {
		t.Fatal(err)
	}
	pass := []byte("cafe\u0301")
	if _, err := OpenKeyFile(f, pass); err != nil {
		t.Errorf("NFD spelling does not open an NFC-sealed file: %v", err)
	}
	if string(pass) != "cafe\u0301" {
		t.Error("OpenKeyFile modified the caller's passphrase")
	}
	// Already-normalised input must not be wiped either (norm's Bytes
	// would alias it).
	ascii := []byte("plain")
	g, _ := SealKeyFile(testSeed(), ascii, testKDF)
	if string(ascii) != "plain" {
		t.Error("SealKeyFile wiped the caller's passphrase")
	}
	if _, err := OpenKeyFile(g, ascii); err != nil || string(ascii) != "plain" {
		t.Errorf("open: %v; passphrase now %q", err, ascii)
	}
}

func TestKeyFileWrongPassphrase(t *testing.T) {
	f := sealTest(t)
	for _, p := range []string{"hunter2 is not a passphrase ", "Hunter2 is not a passphrase", "", "x"} {
		_, err := OpenKeyFile(f, []byte(p))
		if !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("passphrase %q: error %v, want ErrWrongPassphrase", p, err)
		}
		if errors.Is(err, ErrCorruptKeyFile) {
			t.Errorf("passphrase %q: also reported as corrupt", p)
		}
	}
}

func TestKeyFileCorrupt(t *testing.T) {
	good := sealTest(t)
	pass := []byte("hunter2 is not a passphrase")
	// A flipped bit anywhere, truncation at any length, and junk are all
	// corruption, never "wrong passphrase".
	for i := range good {
		f := bytes.Clone(good)
		f[i] ^= 0x10
		_, err := OpenKeyFile(f, pass)
		if !errors.Is(err, ErrCorruptKeyFile) {
			t.Fatalf("bit flip in byte %d: error %v, want ErrCorruptKeyFile", i, err)
		}
	}
	for n := range len(good) {
		if _, err := OpenKeyFile(good[:n], pass); !errors.Is(err, ErrCorruptKeyFile) {
			t.Fatalf("truncated to %d bytes: error %v, want ErrCorruptKeyFile", n, err)
		}
	}
	for _, junk := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte{0}, KeyFileSize), append(bytes.Clone(good), 0)} {
		if _, err := OpenKeyFile(junk, pass); !errors.Is(err, ErrCorruptKeyFile) {
			t.Errorf("junk %.16q: error %v, want ErrCorruptKeyFile", junk, err)
		}
	}
	long := append([]byte(keyFileMagic), make([]byte, 10000)...)
	if _, err := OpenKeyFile(long, pass); !errors.Is(err, ErrCorruptKeyFile) {
		t.Errorf("oversized file: %v", err)
	}
}

func TestKeyFileUnsupported(t *testing.T) {
	pass := []byte("hunter2 is not a passphrase")
	edit := func(fn func(f []byte)) []byte {
		f := sealTest(t)
		fn(f)
		return fixSum(f)
	}
	cases := map[string][]byte{
		"future version": edit(func(f []byte) { f[8] = 2 }),
		"unknown KDF":    edit(func(f []byte) { f[9] = 7 }),
		"huge time":      edit(func(f []byte) { binary.BigEndian.PutUint32(f[10:], 1<<30) }),
		"huge memory":    edit(func(f []byte) { binary.BigEndian.PutUint32(f[14:], 0xffffffff) }),
		"zero threads":   edit(func(f []byte) { f[18] = 0 }),
	}
	for name, f := range cases {
		_, err := OpenKeyFile(f, pass)
		if !errors.Is(err, ErrUnsupportedKeyFile) {
			t.Errorf("%s: error %v, want ErrUnsupportedKeyFile", name, err)
		}
	}
	// Someone who edits authenticated header fields and fixes the outer
	// checksum gets a refusal, never a different seed.
	f := edit(func(f []byte) { f[20] ^= 1 }) // salt
	if _, err := OpenKeyFile(f, pass); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("edited salt: %v, want ErrWrongPassphrase", err)
	}
}

func TestSealKeyFileErrors(t *testing.T) {
	if _, err := SealKeyFile(testSeed(), nil, testKDF); !errors.Is(err, ErrEmptyPassphrase) {
		t.Errorf("empty passphrase: %v", err)
	}
	if _, err := SealKeyFile(make([]byte, 32), []byte("p"), testKDF); !errors.Is(err, ErrSeedLength) {
		t.Errorf("short seed: %v", err)
	}
	for _, p := range []KDFParams{{0, 64, 1}, {1, 4, 1}, {1, 64, 0}, {1, 8 << 30 >> 10, 1}, {65, 64, 1}} {
		if _, err := SealKeyFile(testSeed(), []byte("p"), p); !errors.Is(err, ErrKDFParams) {
			t.Errorf("params %+v: %v, want ErrKDFParams", p, err)
		}
	}
}

func TestDefaultKDFParamsValid(t *testing.T) {
	if err := DefaultKDFParams.check(defaultKDFLimits); err != nil {
		t.Fatal(err)
	}
	if DefaultKDFParams.MemoryKiB < 64<<10 || DefaultKDFParams.Time < 3 {
		t.Errorf("production KDF weakened: %+v", DefaultKDFParams)
	}
}
