package identity

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
)

// AddressHRP is the human-readable part of every account address.
const AddressHRP = "borg"

// Errors from decoding addresses (and bech32m strings in general).
var (
	// ErrAddressChecksum: the characters are well formed but the checksum
	// fails, almost always a typo.
	ErrAddressChecksum = errors.New("address checksum does not match (typo?)")
	// ErrAddressFormat: not a bech32m string at all (bad character, mixed
	// case, missing separator, wrong length).
	ErrAddressFormat = errors.New("malformed address")
	// ErrAddressPrefix: a valid bech32m string for something else.
	ErrAddressPrefix = errors.New("address does not start with " + AddressHRP + "1")
	// ErrAddressLength: the payload is not a 32-byte Ed25519 key.
	ErrAddressLength = errors.New("address does not hold a 32-byte key")
)

// bech32Charset is the BIP-173 data alphabet: no 1, b, i or o, so that no
// two characters are easily confused.
const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// bech32mConst is what BIP-350 xors into the checksum in place of
// bech32's 1, which fixes bech32's weakness to inserted or deleted q's.
const bech32mConst = 0x2bc830a3

// bech32MaxLen is BIP-173's limit; the checksum's guarantees are proven up
// to this length.
const bech32MaxLen = 90

var bech32Rev = func() (r [128]int8) {
	for i := range r {
		r[i] = -1
	}
	for i, c := range bech32Charset {
		r[c] = int8(i)
	}
	return r
}()

func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range 5 {
			if (top>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

func bech32HRPExpand(hrp string) []byte {
	out := make([]byte, 0, 2*len(hrp)+1)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]&31)
	}
	return out
}

// bech32mEncode encodes 5-bit values under a lower-case hrp.
func bech32mEncode(hrp string, data []byte) string {
	values := append(bech32HRPExpand(hrp), data...)
	pm := bech32Polymod(append(values, 0, 0, 0, 0, 0, 0)) ^ bech32mConst
	var b strings.Builder
	b.Grow(len(hrp) + 1 + len(data) + 6)
	b.WriteString(hrp)
	b.WriteByte('1')
	for _, d := range data {
		b.WriteByte(bech32Charset[d])
	}
	for i := range 6 {
		b.WriteByte(bech32Charset[(pm>>(5*(5-i)))&31])
	}
	return b.String()
}

// bech32mDecode checks s and returns its lower-case hrp and 5-bit data
// values (checksum removed). Either all-lower or all-upper case is
// accepted, as BIP-173 requires (upper case makes denser QR codes).
func bech32mDecode(s string) (hrp string, data []byte, err error) {
	if len(s) > bech32MaxLen {
		return "", nil, fmt.Errorf("%w: %d characters, at most %d", ErrAddressFormat, len(s), bech32MaxLen)
	}
	hasLower, hasUpper := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 {
			return "", nil, fmt.Errorf("%w: character %d is not printable ASCII", ErrAddressFormat, i+1)
		}
		hasLower = hasLower || ('a' <= c && c <= 'z')
		hasUpper = hasUpper || ('A' <= c && c <= 'Z')
	}
	if hasLower && hasUpper {
		return "", nil, fmt.Errorf("%w: mixed upper and lower case", ErrAddressFormat)
	}
	s = strings.ToLower(s)
	sep := strings.LastIndexByte(s, '1')
	if sep < 1 {
		return "", nil, fmt.Errorf("%w: no prefix before the separator '1'", ErrAddressFormat)
	}
	if len(s)-sep-1 < 6 {
		return "", nil, fmt.Errorf("%w: too short for a checksum", ErrAddressFormat)
	}
	hrp = s[:sep]
	values := make([]byte, 0, len(s)-sep-1)
	for i := sep + 1; i < len(s); i++ {
		v := bech32Rev[s[i]]
		if v < 0 {
			return "", nil, fmt.Errorf("%w: character %d '%c' is not in the address alphabet", ErrAddressFormat, i+1, s[i])
		}
		values = append(values, byte(v))
	}
	if bech32Polymod(append(bech32HRPExpand(hrp), values...)) != bech32mConst {
		return "", nil, ErrAddressChecksum
	}
	return hrp, values[:len(values)-6], nil
}

// convertBits regroups bits from fromBits-wide to toBits-wide values, MSB
// first. With pad, a last partial group is zero-filled; without, leftover
// bits must be fewer than fromBits and zero (BIP-173's strict rule, so that
// each payload has exactly one encoding).
func convertBits(in []byte, fromBits, toBits uint, pad bool) ([]byte, bool) {
	var acc uint32
	var bits uint
	maxv := uint32(1)<<toBits - 1
	out := make([]byte, 0, len(in)*int(fromBits)/int(toBits)+1)
	for _, v := range in {
		if uint32(v)>>fromBits != 0 {
			return nil, false
		}
		acc = acc<<fromBits | uint32(v)
		bits += fromBits
		for bits >= toBits {
			bits -= toBits
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	if pad {
		if bits > 0 {
			out = append(out, byte(acc<<(toBits-bits)&maxv))
		}
	} else if bits >= fromBits || acc<<(toBits-bits)&maxv != 0 {
		return nil, false
	}
	return out, true
}

// Address returns the bech32m address ("borg1" + 52 data characters + 6
// checksum characters, 63 in all) of an Ed25519 public key.
func Address(pub ed25519.PublicKey) string {
	data, _ := convertBits(pub, 8, 5, true)
	return bech32mEncode(AddressHRP, data)
}

// ParseAddress decodes an address made by Address. Surrounding spaces are
// ignored and upper case is accepted; a typo is reported as
// ErrAddressChecksum.
func ParseAddress(s string) (ed25519.PublicKey, error) {
	hrp, data, err := bech32mDecode(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if hrp != AddressHRP {
		return nil, fmt.Errorf("identity: %w (prefix is %q)", ErrAddressPrefix, hrp)
	}
	key, ok := convertBits(data, 5, 8, false)
	if !ok || len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("identity: %w", ErrAddressLength)
	}
	return ed25519.PublicKey(key), nil
}
