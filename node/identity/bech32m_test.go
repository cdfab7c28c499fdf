package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// BIP-350 "Test vectors for Bech32m": valid strings.
var bech32mValid = []string{
	"A1LQFN3A",
	"a1lqfn3a",
	"an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
	"abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
	"11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
	"split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
	"?1v759aa",
}

// BIP-350 invalid bech32m strings, with the spec's reason.
var bech32mInvalid = map[string]string{
	"\x201xj0phk": "HRP character out of range",
	"\x7f1g6xzxy": "HRP character out of range",
	"\x801vctc34": "HRP character out of range",
	"an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4": "overall max length exceeded",
	"qyrz8wqd2c9m":  "No separator character",
	"1qyrz8wqd2c9m": "Empty HRP",
	"y1b0jsk6g":     "Invalid data character",
	"lt1igcx5c0":    "Invalid data character",
	"in1muywd":      "Too short checksum",
	"mm1crxm3i":     "Invalid character in checksum",
	"au1s5cgom":     "Invalid character in checksum",
	"M1VUXWEZ":      "checksum calculated with uppercase form of HRP",
	"16plkw9":       "empty HRP",
	"1p2gdwpf":      "empty HRP",
}

func TestBech32mVectors(t *testing.T) {
	for _, s := range bech32mValid {
		hrp, data, err := bech32mDecode(s)
		if err != nil {
			t.Errorf("valid %q: %v", s, err)
			continue
		}
		// Re-encoding gives the lower-case form back.
		if got := bech32mEncode(hrp, data); got != strings.ToLower(s) {
			t.Errorf("re-encode %q = %q", s, got)
		}
	}
	for s, why := range bech32mInvalid {
		if _, _, err := bech32mDecode(s); err == nil {
			t.Errorf("invalid %q (%s) accepted", s, why)
		}
	}
}

// Two BIP-350 segwit vectors check convertBits on real payloads: the
// witness program of a v1 address, and a bech32 (not bech32m) checksum.
func TestBech32mSegwitVectors(t *testing.T) {
	hrp, data, err := bech32mDecode("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0")
	if err != nil || hrp != "bc" || data[0] != 1 {
		t.Fatalf("taproot vector: hrp %q data %v err %v", hrp, data, err)
	}
	prog, ok := convertBits(data[1:], 5, 8, false)
	want, _ := hex.DecodeString("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
	if !ok || !bytes.Equal(prog, want) {
		t.Errorf("program %x, want %x", prog, want)
	}
	if _, _, err := bech32mDecode("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd"); !errors.Is(err, ErrAddressChecksum) {
		t.Errorf("bech32 checksum accepted as bech32m: %v", err)
	}
	// Non-zero padding in 8-to-5 conversion.
	_, data, err = bech32mDecode("tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := convertBits(data[1:], 5, 8, false); ok {
		t.Error("non-zero padding accepted")
	}
}

func testKey(b byte) ed25519.PublicKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)).Public().(ed25519.PublicKey)
}

func TestAddressRoundTrip(t *testing.T) {
	for i := range 64 {
		pub := testKey(byte(i))
		a := Address(pub)
		if len(a) != 63 || !strings.HasPrefix(a, "borg1") {
			t.Fatalf("address %q: want 63 characters starting borg1", a)
		}
		got, err := ParseAddress(a)
		if err != nil || !bytes.Equal(got, pub) {
			t.Fatalf("ParseAddress(%q) = %x, %v", a, got, err)
		}
		// Upper case (QR alphanumeric mode) and stray spaces are accepted.
		if got, err := ParseAddress(" " + strings.ToUpper(a) + "\n"); err != nil || !bytes.Equal(got, pub) {
			t.Fatalf("upper-case form: %x, %v", got, err)
		}
	}
}

// Every single-character substitution and every swap of two neighbouring
// different characters is caught, anywhere in the address.
func TestAddressCatchesTypos(t *testing.T) {
	for _, seed := range []byte{1, 2, 3} {
		a := Address(testKey(seed))
		for i := len("borg1"); i < len(a); i++ {
			for _, c := range bech32Charset {
				if byte(c) == a[i] {
					continue
				}
				typo := a[:i] + string(c) + a[i+1:]
				if _, err := ParseAddress(typo); !errors.Is(err, ErrAddressChecksum) {
					t.Fatalf("substitution at %d (%q) not caught: %v", i, typo, err)
				}
			}
		}
		for i := 0; i+1 < len(a); i++ {
			if a[i] == a[i+1] {
				continue
			}
			swapped := a[:i] + string(a[i+1]) + string(a[i]) + a[i+2:]
			if _, err := ParseAddress(swapped); err == nil {
				t.Fatalf("swap at %d (%q) not caught", i, swapped)
			}
		}
		// Dropping or inserting a character changes the payload length
		// or breaks the checksum; either way it is refused.
		if _, err := ParseAddress(a[:len(a)-7] + a[len(a)-6:]); err == nil {
			t.Error("deleted character not caught")
		}
		if _, err := ParseAddress(a[:10] + "q" + a[10:]); err == nil {
			t.Error("inserted character not caught")
		}
	}
}

func TestParseAddressErrors(t *testing.T) {
	pub := testKey(9)
	a := Address(pub)
	data, _ := convertBits(pub, 8, 5, true)
	cases := map[string]error{
		"":                        ErrAddressFormat,
		"borg1":                   ErrAddressFormat,
		a[:6] + "B" + a[7:]:       ErrAddressFormat, // mixed case
		a[:6] + "b" + a[7:]:       ErrAddressFormat, // b is not in the alphabet
		bech32mEncode("bc", data): ErrAddressPrefix,
		bech32mEncode("borg", data[:len(data)-1]): ErrAddressLength,
		bech32mEncode("borg", append(data, 0)):    ErrAddressLength,
		a[:len(a)-1] + "q":                        ErrAddressChecksum,
	}
	for in, want := range cases {
		if _, err := ParseAddress(in); !errors.Is(err, want) {
			t.Errorf("ParseAddress(%q) error %v, want %v", in, err, want)
		}
	}
}
