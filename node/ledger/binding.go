package ledger

import (
	"crypto/ed25519"
	"fmt"
)

// A node is bound to its owner in two steps on two machines, so the
// owner's phrase never touches the node: the node signs a request naming
// the owner (NewBindingRequest, printed by `borgios node init`), the owner
// countersigns it on their own machine (SignOwner), and the node keeps the
// completed binding to present with its reward claims.

// NewBindingRequest returns a binding of node to owner carrying only the
// node's signature.
func NewBindingRequest(g Hash, node ed25519.PrivateKey, owner AccountID) NodeBinding {
	b := NodeBinding{Genesis: g, Owner: owner}
	copy(b.Node[:], node.Public().(ed25519.PublicKey))
	d := b.digest()
	copy(b.NodeSig[:], signMsg(node, d[:]))
	return b
}

// SignOwner completes a binding request with the owner's signature. It
// refuses a request whose node signature is bad or that names another owner.
func (b *NodeBinding) SignOwner(owner ed25519.PrivateKey) error {
	var id AccountID
	copy(id[:], owner.Public().(ed25519.PublicKey))
	if id != b.Owner {
		return fmt.Errorf("binding request names another owner: %w", ErrBadBinding)
	}
	d := b.digest()
	if !verifySig(b.Node[:], d[:], b.NodeSig[:]) {
		return fmt.Errorf("binding request: node signature: %w", ErrBadSignature)
	}
	copy(b.OwnerSig[:], signMsg(owner, d[:]))
	return nil
}

// Encode returns the binding's canonical bytes.
func (b *NodeBinding) Encode() []byte {
	var w writer
	b.encode(&w)
	return w.b
}

// DecodeNodeBinding decodes canonical binding bytes; it does not verify
// the signatures (Verify does).
func DecodeNodeBinding(data []byte) (*NodeBinding, error) {
	r := reader{b: data}
	b := &NodeBinding{}
	b.read(&r)
	if err := r.done("node binding"); err != nil {
		return nil, err
	}
	return b, nil
}
