package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"golang.org/x/crypto/curve25519"
)

// Golden is the output of the independent Python reference
// (scripts/refcheck), committed so this check runs without Python.
type Golden struct {
	Paths   map[string]string `json:"paths"`
	Vectors []struct {
		Phrase     string            `json:"phrase"`
		Passphrase string            `json:"passphrase"`
		Expected   map[string]string `json:"expected"`
	} `json:"vectors"`
}

func loadGolden(t testing.TB) Golden {
	t.Helper()
	b, err := os.ReadFile("testdata/refcheck_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g Golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Vectors) < 10 {
		t.Fatalf("only %d golden vectors", len(g.Vectors))
	}
	return g
}

func TestKeysMatchIndependentReference(t *testing.T) {
	g := loadGolden(t)
	if g.Paths["account"] != AccountPath || g.Paths["x25519"] != X25519Path || g.Paths["file_root"] != FileRootPath {
		t.Fatalf("reference paths %v differ from ours", g.Paths)
	}
	withPass := 0
	for _, v := range g.Vectors {
		k, err := KeysFromMnemonic(v.Phrase, v.Passphrase)
		if err != nil {
			t.Fatalf("%q: %v", v.Phrase, err)
		}
		got := map[string]string{
			"account_public_key":  hex.EncodeToString(k.AccountPublic()),
			"x25519_public_key":   hex.EncodeToString(k.X25519Public[:]),
			"address":             k.Address(),
			"account_private_key": hex.EncodeToString(k.Account.Seed()),
			"x25519_private_key":  hex.EncodeToString(k.X25519Private[:]),
			"file_root":           hex.EncodeToString(k.FileRoot[:]),
		}
		for field, want := range v.Expected {
			if got[field] != want {
				t.Errorf("%.30q pass %q %s\n got %s\nwant %s", v.Phrase, v.Passphrase, field, got[field], want)
			}
		}
		if len(v.Expected) != len(got) {
			t.Errorf("reference has fields %v", v.Expected)
		}
		if v.Passphrase != "" {
			withPass++
		}
	}
	if withPass == 0 || withPass == len(g.Vectors) {
		t.Error("golden vectors should cover phrases with and without passphrase")
	}
}

func TestKeysFromSeedMatchesPaths(t *testing.T) {
	seed := bytes.Repeat([]byte{0xa5}, 64)
	k, err := KeysFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	acct, _, _ := DeriveSLIP10(seed, AccountPath)
	x, _, _ := DeriveSLIP10(seed, X25519Path)
	f, _, _ := DeriveSLIP10(seed, FileRootPath)
	if !bytes.Equal(k.Account, ed25519.NewKeyFromSeed(acct[:])) {
		t.Error("account key differs from DeriveSLIP10(AccountPath)")
	}
	if k.X25519Private != x {
		t.Error("X25519 key differs from DeriveSLIP10(X25519Path)")
	}
	if k.FileRoot != f {
		t.Error("file root differs from DeriveSLIP10(FileRootPath)")
	}
	pub, _ := curve25519.X25519(x[:], curve25519.Basepoint)
	if !bytes.Equal(k.X25519Public[:], pub) {
		t.Error("X25519 public key is not X25519(priv, basepoint)")
	}
	// The keys work: sign/verify and a Diffie-Hellman agreement.
	msg := []byte("borgios")
	if !ed25519.Verify(k.AccountPublic(), msg, ed25519.Sign(k.Account, msg)) {
		t.Error("account key does not verify its own signature")
	}
	other, _ := KeysFromSeed(bytes.Repeat([]byte{0x5a}, 64))
	s1, _ := curve25519.X25519(k.X25519Private[:], other.X25519Public[:])
	s2, _ := curve25519.X25519(other.X25519Private[:], k.X25519Public[:])
	if !bytes.Equal(s1, s2) {
		t.Error("X25519 agreement differs")
	}
	if _, err := KeysFromSeed(make([]byte, 8)); !errors.Is(err, ErrSeedLength) {
		t.Errorf("8-byte seed: %v, want ErrSeedLength", err)
	}
}

func TestKeysFromMnemonicErrors(t *testing.T) {
	if _, err := KeysFromMnemonic("abandon abandon", ""); !errors.Is(err, ErrWordCount) {
		t.Errorf("error %v, want ErrWordCount", err)
	}
	if _, err := KeysFromMnemonic("zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo", ""); !errors.Is(err, ErrChecksum) {
		t.Errorf("error %v, want ErrChecksum", err)
	}
}

func TestWipe(t *testing.T) {
	k, err := KeysFromSeed(bytes.Repeat([]byte{1}, 64))
	if err != nil {
		t.Fatal(err)
	}
	pub := k.X25519Public
	k.Wipe()
	zero := [32]byte{}
	if !bytes.Equal(k.Account, make([]byte, ed25519.PrivateKeySize)) || k.X25519Private != zero || k.FileRoot != zero {
		t.Error("Wipe left secrets behind")
	}
	if k.X25519Public != pub {
		t.Error("Wipe changed the public key")
	}
	var nilKeys *Keys
	nilKeys.Wipe() // must not panic
}

func TestGenerateNodeKey(t *testing.T) {
	a, err := GenerateNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateNodeKey()
	if len(a) != ed25519.PrivateKeySize || bytes.Equal(a, b) {
		t.Error("node keys are not fresh Ed25519 keys")
	}
}
