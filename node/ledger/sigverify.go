package ledger

import (
	"crypto/ed25519"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Ed25519 through curve25519-voi with crypto/ed25519's acceptance rules.
//
// Why: the 4 owner-signature checks per transfer (one per witness) were a
// third of all CPU in the QUIC benchmark. voi's verifier is about 1.7x as
// fast as the standard library's here, and 1.9x with the public key's
// decompression and table precomputed (ExpandedPublicKey, cached per
// account in each ledger below); its signer is 1.7x as fast and, Ed25519
// signing being deterministic, gives the same bytes.
//
// Safety needs every honest node to accept exactly the signatures every
// other honest node accepts: a witness that finds a signature valid where
// another finds it invalid would split votes and freeze the slot. So
// every node uses the same rules, VerifyOptionsStdLib (cofactorless
// equation, canonical S, small-order and non-canonical A allowed, R
// compared byte for byte, as crypto/ed25519 does), and TestVerifierAgrees
// checks voi against crypto/ed25519 on RFC 8032 / SUPERCOP vectors, the
// "Taming the many EdDSAs" edge cases, small-order and non-canonical keys
// and non-canonical S; FuzzVerifierAgrees keeps looking. Batch
// verification is not used: its equation is cofactored and would accept
// signatures the single check refuses.
var stdRules = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// verifySig is crypto/ed25519.Verify's decision, computed by voi.
func verifySig(pub, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return voi.VerifyWithOptions(voi.PublicKey(pub), msg, sig, stdRules)
}

// signMsg is crypto/ed25519.Sign (same bytes: Ed25519 is deterministic).
func signMsg(key ed25519.PrivateKey, msg []byte) []byte {
	return voi.Sign(voi.PrivateKey(key), msg)
}

// keyCache holds expanded public keys (the point decompressed and its
// multiplication table built), most recently used first, so a witness
// checking an active account's next block skips that work. It holds
// precomputation only, never a verification outcome: every signature is
// still checked. Each Ledger (each witness, each node) has its own.
type keyCache struct {
	mu    sync.Mutex
	m     map[AccountID]*keyEntry
	head  keyEntry // sentinel of the recency list
	limit int
}

type keyEntry struct {
	key        AccountID
	ek         *voi.ExpandedPublicKey
	prev, next *keyEntry
}

// keyCacheSize bounds a ledger's cache: an expanded key is about 1.6 KiB
// (measured), so 4,096 of the most active accounts cost about 7 MiB.
const keyCacheSize = 4096

func newKeyCache(limit int) *keyCache {
	c := &keyCache{m: make(map[AccountID]*keyEntry), limit: limit}
	c.head.prev, c.head.next = &c.head, &c.head
	return c
}

func (c *keyCache) unlink(e *keyEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *keyCache) front(e *keyEntry) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

// expanded returns pub's expanded key, or nil if pub is not a point
// (every signature under it is then invalid, as for crypto/ed25519).
func (c *keyCache) expanded(pub AccountID) *voi.ExpandedPublicKey {
	c.mu.Lock()
	if e, ok := c.m[pub]; ok {
		c.unlink(e)
		c.front(e)
		c.mu.Unlock()
		return e.ek
	}
	c.mu.Unlock()
	ek, err := voi.NewExpandedPublicKey(voi.PublicKey(pub[:]))
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[pub]; ok { // another goroutine expanded it meanwhile
		return e.ek
	}
	if len(c.m) >= c.limit {
		old := c.head.prev
		c.unlink(old)
		delete(c.m, old.key)
	}
	e := &keyEntry{key: pub, ek: ek}
	c.m[pub] = e
	c.front(e)
	return ek
}

// verify is verifySig with pub's expansion taken from (or added to) the
// cache.
func (c *keyCache) verify(pub AccountID, msg []byte, sig *Signature) bool {
	ek := c.expanded(pub)
	if ek == nil {
		return false
	}
	return voi.VerifyExpandedWithOptions(ek, msg, sig[:], stdRules)
}

// len reports how many keys the cache holds.
func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
