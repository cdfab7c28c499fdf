package node

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Contact is how a node is reached: its Ed25519 node key, which the
// transport pins, and its UDP address.
type Contact struct {
	Key  ed25519.PublicKey
	Addr string
}

// ErrBadContact means a contact string could not be parsed.
var ErrBadContact = errors.New("bad peer contact")

// ParseContact parses "KEYHEX@HOST:PORT", the form a node prints at start
// and shows on /status. The key is required: dialling an address without
// knowing who should answer would let anyone on the path impersonate a peer.
func ParseContact(s string) (Contact, error) {
	keyHex, addr, ok := strings.Cut(strings.TrimSpace(s), "@")
	if !ok {
		return Contact{}, fmt.Errorf("%w %q: want NODEKEY@HOST:PORT (a node prints its contact line when it starts, and shows it on /status)", ErrBadContact, s)
	}
	key, err := hex.DecodeString(keyHex)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return Contact{}, fmt.Errorf("%w %q: node key must be %d hex characters", ErrBadContact, s, 2*ed25519.PublicKeySize)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return Contact{}, fmt.Errorf("%w %q: %v", ErrBadContact, s, err)
	}
	return Contact{Key: ed25519.PublicKey(key), Addr: addr}, nil
}

// String formats the contact as ParseContact reads it.
func (c Contact) String() string { return hex.EncodeToString(c.Key) + "@" + c.Addr }
