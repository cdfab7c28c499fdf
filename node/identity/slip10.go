package identity

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors from SLIP-0010 derivation.
var (
	// ErrBadPath: the path is not of the form m/a'/b'/... .
	ErrBadPath = errors.New("malformed derivation path")
	// ErrNotHardened: ed25519 under SLIP-0010 has no public (normal)
	// derivation, so every path element must be hardened.
	ErrNotHardened = errors.New("ed25519 derivation needs hardened indices")
	// ErrSeedLength: SLIP-0010 seeds are 16 to 64 bytes.
	ErrSeedLength = errors.New("seed must be 16 to 64 bytes")
)

// HardenedOffset is added to an index to make it hardened (written i').
const HardenedOffset uint32 = 1 << 31

// slip10Node is an extended private key: the key and its chain code.
type slip10Node struct {
	key, chain [32]byte
}

func (n *slip10Node) wipe() { clear(n.key[:]); clear(n.chain[:]) }

// set splits I = HMAC-SHA512 output into I_L (key) and I_R (chain code).
func (n *slip10Node) set(i []byte) {
	copy(n.key[:], i[:32])
	copy(n.chain[:], i[32:])
	clear(i)
}

// masterNode is SLIP-0010's master key generation for the ed25519 curve.
// Unlike secp256k1 no retry is needed: every 256-bit string is a valid
// ed25519 private key.
func masterNode(seed []byte) (slip10Node, error) {
	var n slip10Node
	if len(seed) < 16 || len(seed) > 64 {
		return n, fmt.Errorf("identity: %w (got %d)", ErrSeedLength, len(seed))
	}
	mac := hmac.New(sha512.New, []byte("ed25519 seed"))
	mac.Write(seed)
	n.set(mac.Sum(nil))
	return n, nil
}

// child is hardened CKDpriv: I = HMAC-SHA512(chain, 0x00 || key || ser32(i)).
// index must already include HardenedOffset.
func (n *slip10Node) child(index uint32) slip10Node {
	var data [1 + 32 + 4]byte
	copy(data[1:33], n.key[:])
	binary.BigEndian.PutUint32(data[33:], index)
	mac := hmac.New(sha512.New, n.chain[:])
	mac.Write(data[:])
	clear(data[:])
	var c slip10Node
	c.set(mac.Sum(nil))
	return c
}

// ParsePath parses a SLIP-0010 ed25519 path such as m/44'/7446'/0'/0' and
// returns the indices with HardenedOffset added. "m" alone is the master
// key. Both ' and h/H mark hardened elements; unhardened elements are
// refused with ErrNotHardened.
func ParsePath(path string) ([]uint32, error) {
	parts := strings.Split(path, "/")
	if parts[0] != "m" {
		return nil, fmt.Errorf("identity: %w: %q must start with \"m\"", ErrBadPath, path)
	}
	out := make([]uint32, 0, len(parts)-1)
	for _, p := range parts[1:] {
		num, hardened := p, false
		if s, ok := strings.CutSuffix(p, "'"); ok {
			num, hardened = s, true
		} else if s, ok := strings.CutSuffix(p, "h"); ok {
			num, hardened = s, true
		} else if s, ok := strings.CutSuffix(p, "H"); ok {
			num, hardened = s, true
		}
		// ParseUint accepts only digits here (no sign, no spaces); a
		// leading zero is refused so each path has one spelling.
		v, err := strconv.ParseUint(num, 10, 31)
		if err != nil || (len(num) > 1 && num[0] == '0') {
			return nil, fmt.Errorf("identity: %w: element %q of %q", ErrBadPath, p, path)
		}
		if !hardened {
			return nil, fmt.Errorf("identity: %w: element %q of %q", ErrNotHardened, p, path)
		}
		out = append(out, uint32(v)|HardenedOffset)
	}
	return out, nil
}

// DeriveSLIP10 derives the ed25519 private key (the 32-byte RFC 8032 seed
// form) and chain code at path from a 16- to 64-byte seed, per SLIP-0010.
func DeriveSLIP10(seed []byte, path string) (key, chainCode [32]byte, err error) {
	indices, err := ParsePath(path)
	if err != nil {
		return key, chainCode, err
	}
	n, err := masterNode(seed)
	if err != nil {
		return key, chainCode, err
	}
	for _, i := range indices {
		c := n.child(i)
		n.wipe()
		n = c
	}
	return n.key, n.chain, nil
}
