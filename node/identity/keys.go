package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/curve25519"
)

// The frozen BorgIOS derivation paths. 7446 is BorgIOS's coin-type number
// under the BIP44 purpose 44'; changing any of these changes every user's
// identity, so they are constants and tested against golden vectors.
const (
	AccountPath  = "m/44'/7446'/0'/0'"
	X25519Path   = "m/44'/7446'/0'/1'"
	FileRootPath = "m/44'/7446'/0'/2'"
)

// accountBase is m/44'/7446'/0' and the last elements of the three paths
// below it; KeysFromSeed walks the common prefix once.
var (
	accountBase                         = []uint32{44 | HardenedOffset, 7446 | HardenedOffset, 0 | HardenedOffset}
	accountLeaf, x25519Leaf, fileRootLf = 0 | HardenedOffset, 1 | HardenedOffset, 2 | HardenedOffset
)

// Keys are everything a person's phrase gives them.
type Keys struct {
	// Account is the identity key at AccountPath: ledger account, owner of
	// shards, signer of every request.
	Account ed25519.PrivateKey
	// X25519Private is the 32 bytes at X25519Path used as an X25519 scalar
	// (clamped by X25519 itself), for mail and sharing.
	X25519Private [32]byte
	// X25519Public is X25519(X25519Private, basepoint).
	X25519Public [32]byte
	// FileRoot is the 32 bytes at FileRootPath, the HKDF input for
	// per-file keys.
	FileRoot [32]byte
}

// KeysFromMnemonic validates the phrase and derives the keys (see
// SeedFromMnemonic for normalisation).
func KeysFromMnemonic(mnemonic, passphrase string) (*Keys, error) {
	seed, err := SeedFromMnemonic(mnemonic, passphrase)
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	return KeysFromSeed(seed)
}

// KeysFromSeed derives the keys from a BIP39 seed (64 bytes; SLIP-0010
// allows 16 to 64).
func KeysFromSeed(seed []byte) (*Keys, error) {
	n, err := masterNode(seed)
	if err != nil {
		return nil, err
	}
	for _, i := range accountBase {
		c := n.child(i)
		n.wipe()
		n = c
	}
	defer n.wipe()

	k := &Keys{}
	acct := n.child(accountLeaf)
	k.Account = ed25519.NewKeyFromSeed(acct.key[:])
	acct.wipe()

	x := n.child(x25519Leaf)
	k.X25519Private = x.key
	x.wipe()
	pub, err := curve25519.X25519(k.X25519Private[:], curve25519.Basepoint)
	if err != nil {
		// Only a low-order result fails, which the basepoint cannot give.
		k.Wipe()
		return nil, fmt.Errorf("identity: X25519 public key: %w", err)
	}
	copy(k.X25519Public[:], pub)

	f := n.child(fileRootLf)
	k.FileRoot = f.key
	f.wipe()
	return k, nil
}

// AccountPublic returns the account's Ed25519 public key.
func (k *Keys) AccountPublic() ed25519.PublicKey {
	return k.Account.Public().(ed25519.PublicKey)
}

// Address returns the human-friendly address of the account key.
func (k *Keys) Address() string { return Address(k.AccountPublic()) }

// Wipe zeroes every secret in k. Copies may survive elsewhere (goroutine
// stacks are copied when they grow, crypto libraries keep scratch state),
// so this narrows rather than closes the window in which a memory dump
// reveals keys.
func (k *Keys) Wipe() {
	if k == nil {
		return
	}
	clear(k.Account)
	clear(k.X25519Private[:])
	clear(k.FileRoot[:])
}

// GenerateNodeKey returns a fresh random Ed25519 key for a node. Nodes do
// not derive keys from the owner's phrase, so a stolen Raspberry Pi gives
// away that node and nothing else.
func GenerateNodeKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generating node key: %w", err)
	}
	return priv, nil
}
