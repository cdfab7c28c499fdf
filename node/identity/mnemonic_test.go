package identity

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tyler-smith/go-bip39"
)

type trezorVectors struct {
	Passphrase string      `json:"passphrase"`
	English    [][3]string `json:"english"`
}

func loadTrezor(t testing.TB) trezorVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/bip39_trezor_english.json")
	if err != nil {
		t.Fatal(err)
	}
	var v trezorVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.English) != 24 || v.Passphrase != "TREZOR" {
		t.Fatalf("vector file has %d english vectors, passphrase %q", len(v.English), v.Passphrase)
	}
	return v
}

func TestBIP39TrezorVectors(t *testing.T) {
	v := loadTrezor(t)
	for _, vec := range v.English {
		entropy, _ := hex.DecodeString(vec[0])
		m, err := MnemonicFromEntropy(entropy)
		if err != nil {
			t.Fatal(err)
		}
		if m != vec[1] {
			t.Errorf("entropy %s\n got %s\nwant %s", vec[0], m, vec[1])
		}
		back, err := EntropyFromMnemonic(vec[1])
		if err != nil || !bytes.Equal(back, entropy) {
			t.Errorf("EntropyFromMnemonic(%q) = %x, %v; want %s", vec[1], back, err, vec[0])
		}
		seed, err := SeedFromMnemonic(vec[1], v.Passphrase)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(seed); got != vec[2] {
			t.Errorf("seed of %q\n got %s\nwant %s", vec[1], got, vec[2])
		}
	}
}

func TestNewMnemonic(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		m, err := NewMnemonic()
		if err != nil {
			t.Fatal(err)
		}
		if n := len(strings.Split(m, " ")); n != NewMnemonicWords {
			t.Fatalf("NewMnemonic gave %d words: %q", n, m)
		}
		if NormalizeMnemonic(m) != m {
			t.Fatalf("NewMnemonic output is not canonical: %q", m)
		}
		if err := ValidateMnemonic(m); err != nil {
			t.Fatal(err)
		}
		e, err := EntropyFromMnemonic(m)
		if err != nil || len(e) != 32 {
			t.Fatalf("entropy of new phrase: %d bytes, %v", len(e), err)
		}
		if seen[m] {
			t.Fatalf("NewMnemonic repeated a phrase: %q", m)
		}
		seen[m] = true
	}
}

const canonical24 = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art"

func TestNormalizationGivesSameSeed(t *testing.T) {
	want, err := SeedFromMnemonic(canonical24, "TREZOR")
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string]string{
		"extra spaces":     "  abandon  abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon   abandon art  ",
		"tabs and newline": "abandon\tabandon abandon abandon abandon abandon\nabandon abandon abandon abandon abandon abandon\r\nabandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art\n",
		"upper case":       strings.ToUpper(canonical24),
		"mixed case":       "Abandon ABANDON abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon Art",
		"no-break spaces":  strings.ReplaceAll(canonical24, " ", "\u00a0"),
		"ideographic sp":   strings.ReplaceAll(canonical24, " ", "\u3000"),
		// NFKD folds compatibility forms: fullwidth letters become ASCII.
		"fullwidth": strings.Replace(canonical24, "art", "\uff41\uff52\uff54", 1),
	}
	for name, in := range variants {
		got, err := SeedFromMnemonic(in, "TREZOR")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: seed differs from the canonical phrase's", name)
		}
		if NormalizeMnemonic(in) != canonical24 {
			t.Errorf("%s: NormalizeMnemonic = %q", name, NormalizeMnemonic(in))
		}
	}
	// The reason we normalise: go-bip39 accepts the spaced phrase and
	// derives a different seed from it.
	spaced := "abandon  " + strings.TrimPrefix(canonical24, "abandon ")
	if raw, err := bip39.NewSeedWithErrorChecking(spaced, "TREZOR"); err == nil && bytes.Equal(raw, want) {
		t.Log("go-bip39 now handles extra spaces itself")
	}
}

func TestPassphraseNFKD(t *testing.T) {
	// "é" precomposed (NFC) versus e + combining acute (NFD): the same
	// passphrase to a person, different bytes on different systems.
	nfc, err := SeedFromMnemonic(canonical24, "caf\u00e9")
	if err != nil {
		t.Fatal(err)
	}
	nfd, err := SeedFromMnemonic(canonical24, "cafe\u0301")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(nfc, nfd) {
		t.Error("NFC and NFD spellings of the passphrase give different seeds")
	}
	// Case and spaces in the passphrase are significant.
	for _, other := range []string{"Caf\u00e9", "caf\u00e9 ", ""} {
		s, _ := SeedFromMnemonic(canonical24, other)
		if bytes.Equal(s, nfc) {
			t.Errorf("passphrase %q gives the same seed as %q", other, "caf\u00e9")
		}
	}
}

func TestValidateMnemonicErrors(t *testing.T) {
	words := strings.Split(canonical24, " ")
	with := func(i int, w string) string {
		c := slices.Clone(words)
		c[i] = w
		return strings.Join(c, " ")
	}

	t.Run("unknown word", func(t *testing.T) {
		err := ValidateMnemonic(with(6, "abandn"))
		var we *WordError
		if !errors.As(err, &we) || !errors.Is(err, ErrUnknownWord) {
			t.Fatalf("error %v, want *WordError wrapping ErrUnknownWord", err)
		}
		if we.Position != 7 || we.Word != "abandn" {
			t.Errorf("WordError = %+v, want position 7 word abandn", we)
		}
		want := "word 7 'abandn' is not in the BIP39 English list; did you mean 'abandon'?"
		if err.Error() != want {
			t.Errorf("message\n got %s\nwant %s", err, want)
		}
		if errors.Is(err, ErrChecksum) || errors.Is(err, ErrWordCount) {
			t.Error("unknown word also matches another sentinel")
		}
	})
	t.Run("unknown word reported before count", func(t *testing.T) {
		err := ValidateMnemonic(strings.Join(words[:23], " ") + " artt")
		var we *WordError
		if !errors.As(err, &we) || we.Position != 24 {
			t.Fatalf("error %v, want WordError at 24", err)
		}
	})
	t.Run("suggestions", func(t *testing.T) {
		cases := map[string][]string{
			"abandn": {"abandon"}, // prefix
			"zo":     {"zoo"},     // short: edit distance
			"wrold":  {"world"},   // transposition
			"lgeal":  {"legal"},   // transposition at the start
			"qqqqqq": nil,         // nothing close
		}
		for in, want := range cases {
			got := suggestWords(in)
			if len(want) == 0 {
				if len(got) != 0 {
					t.Errorf("suggestWords(%q) = %v, want none", in, got)
				}
				continue
			}
			if len(got) == 0 || got[0] != want[0] || len(got) > 3 {
				t.Errorf("suggestWords(%q) = %v, want %v first", in, got, want[0])
			}
		}
		huge := strings.Repeat("x", 1<<20)
		err := ValidateMnemonic(huge + " abandon")
		var we *WordError
		if !errors.As(err, &we) || len(we.Suggestions) != 0 || len(err.Error()) > 200 {
			t.Errorf("huge word: suggestions %v, message %d bytes", we.Suggestions, len(err.Error()))
		}
		e := &WordError{Position: 1, Word: "x", Suggestions: []string{"a", "b", "c"}}
		if got := e.Error(); !strings.HasSuffix(got, "did you mean 'a', 'b' or 'c'?") {
			t.Errorf("three suggestions read %q", got)
		}
	})
	t.Run("word count", func(t *testing.T) {
		for _, n := range []int{0, 1, 11, 13, 23, 25, 27} {
			in := strings.TrimSpace(strings.Repeat("abandon ", n))
			err := ValidateMnemonic(in)
			if !errors.Is(err, ErrWordCount) {
				t.Errorf("%d words: error %v, want ErrWordCount", n, err)
			}
			var we *WordError
			if errors.As(err, &we) || errors.Is(err, ErrChecksum) {
				t.Errorf("%d words: error %v also matches another case", n, err)
			}
		}
	})
	t.Run("checksum", func(t *testing.T) {
		// Every word valid, last word wrong: checksum.
		err := ValidateMnemonic(with(23, "abandon"))
		if !errors.Is(err, ErrChecksum) {
			t.Fatalf("error %v, want ErrChecksum", err)
		}
		if errors.Is(err, ErrWordCount) || errors.Is(err, ErrUnknownWord) {
			t.Errorf("checksum error %v also matches another case", err)
		}
		if _, err := SeedFromMnemonic(with(23, "abandon"), ""); !errors.Is(err, ErrChecksum) {
			t.Errorf("SeedFromMnemonic error %v, want ErrChecksum", err)
		}
	})
	t.Run("all valid lengths", func(t *testing.T) {
		for _, n := range []int{16, 20, 24, 28, 32} {
			m, err := MnemonicFromEntropy(bytes.Repeat([]byte{0x5a}, n))
			if err != nil {
				t.Fatal(err)
			}
			if err := ValidateMnemonic(m); err != nil {
				t.Errorf("%d-byte entropy phrase: %v", n, err)
			}
		}
		if _, err := MnemonicFromEntropy(make([]byte, 17)); err == nil {
			t.Error("17 bytes of entropy accepted")
		}
	})
}

func TestEditDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "abc", 0}, {"abc", "abd", 1}, {"abc", "acb", 1},
		{"abc", "ab", 1}, {"ab", "abc", 1}, {"abc", "xyz", 3}, {"kitten", "sitting", 3},
	}
	for _, c := range cases {
		if got := editDistance(c.a, c.b, 10); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if got := editDistance("abcdef", "uvwxyz", 2); got != 3 {
		t.Errorf("capped distance = %d, want 3", got)
	}
}
