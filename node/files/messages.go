package files

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"github.com/borgios/borgios/node/wire"
)

// Receptor kinds of the files cell.
const (
	// KindPutHead: the owner's update. Accepted only when the head extends
	// every tip the holder keeps (compare and swap over the tip set).
	KindPutHead = "put-head"
	// KindGetHead: the tips kept for an account.
	KindGetHead = "get-head"
	// KindGetHeads: heads kept for an account, by hash (tips and recent
	// history), so clients and holders can walk ancestry.
	KindGetHeads = "get-heads"
	// KindSyncHead: replication between holders, read repair and merge
	// pushes: any validly signed head the holder does not know yet is
	// kept, as a new tip unless a tip already extends it.
	KindSyncHead = "sync-head"
)

// Message limits. A request carries one head and the chain that links it
// to what the receiver keeps; they stay under the transport's 4 MiB
// frame.
const (
	// MaxChain bounds the ancestors sent along with one head.
	MaxChain = 64
	// maxChainBytes bounds their total size.
	maxChainBytes = 2 << 20
	// maxHeadsAsked bounds the hashes of one get-heads request.
	maxHeadsAsked = 256
	// maxAnswerBytes bounds the heads of one get-head or get-heads answer.
	maxAnswerBytes = 2 << 20
	maxMessage     = maxChainBytes + MaxHeadSize + 64<<10
)

// headMsg is a put-head or sync-head request: the head and, oldest first,
// ancestors the receiver may lack to link it to its tips.
type headMsg struct {
	Head  []byte   `cbor:"1,keyasint"`
	Chain [][]byte `cbor:"2,keyasint,omitempty"`
}

// headsMsg answers get-head (the tips) and get-heads (the heads found).
type headsMsg struct {
	Heads [][]byte `cbor:"1,keyasint"`
}

type accountRequest struct {
	Account []byte `cbor:"1,keyasint"`
}

type headsRequest struct {
	Account []byte   `cbor:"1,keyasint"`
	Hashes  [][]byte `cbor:"2,keyasint"`
}

// decodeHeadMsg decodes a put-head or sync-head request and verifies the
// head and every chain head: each signed, all by the head's account.
func decodeHeadMsg(b []byte) (*SignedHead, []*SignedHead, error) {
	if len(b) > maxMessage {
		return nil, nil, fmt.Errorf("%w: head message of %d bytes", ErrMalformed, len(b))
	}
	var m headMsg
	if err := wire.Unmarshal(b, &m); err != nil {
		return nil, nil, fmt.Errorf("%w: head message: %v", ErrMalformed, err)
	}
	if len(m.Chain) > MaxChain {
		return nil, nil, fmt.Errorf("%w: chain of %d heads, limit %d", ErrMalformed, len(m.Chain), MaxChain)
	}
	h, err := VerifyHead(m.Head)
	if err != nil {
		return nil, nil, err
	}
	chain, err := verifyHeads(m.Chain, ed25519.PublicKey(h.Account))
	if err != nil {
		return nil, nil, err
	}
	return h, chain, nil
}

// decodeHeads decodes a get-head or get-heads answer: every head signed
// by account.
func decodeHeads(b []byte, account ed25519.PublicKey) ([]*SignedHead, error) {
	var m headsMsg
	if err := wire.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: heads: %v", ErrMalformed, err)
	}
	if len(m.Heads) > maxHeadsAsked {
		return nil, fmt.Errorf("%w: %d heads in one answer", ErrMalformed, len(m.Heads))
	}
	return verifyHeads(m.Heads, account)
}

func verifyHeads(raws [][]byte, account ed25519.PublicKey) ([]*SignedHead, error) {
	out := make([]*SignedHead, 0, len(raws))
	for _, raw := range raws {
		h, err := VerifyHead(raw)
		if err != nil {
			return nil, err
		}
		if !account.Equal(ed25519.PublicKey(h.Account)) {
			return nil, fmt.Errorf("%w: a head of another account", ErrMalformed)
		}
		out = append(out, h)
	}
	return out, nil
}

func decodeAccount(b []byte) (ed25519.PublicKey, error) {
	var r accountRequest
	if err := wire.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: get-head request: %v", ErrMalformed, err)
	}
	if len(r.Account) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: account of %d bytes", ErrMalformed, len(r.Account))
	}
	return ed25519.PublicKey(r.Account), nil
}

func decodeHeadsRequest(b []byte) (ed25519.PublicKey, []HeadHash, error) {
	var r headsRequest
	if err := wire.Unmarshal(b, &r); err != nil {
		return nil, nil, fmt.Errorf("%w: get-heads request: %v", ErrMalformed, err)
	}
	if len(r.Account) != ed25519.PublicKeySize {
		return nil, nil, fmt.Errorf("%w: account of %d bytes", ErrMalformed, len(r.Account))
	}
	if len(r.Hashes) > maxHeadsAsked {
		return nil, nil, fmt.Errorf("%w: %d hashes asked, limit %d", ErrMalformed, len(r.Hashes), maxHeadsAsked)
	}
	out := make([]HeadHash, len(r.Hashes))
	for i, h := range r.Hashes {
		if len(h) != sha256.Size {
			return nil, nil, fmt.Errorf("%w: hash of %d bytes", ErrMalformed, len(h))
		}
		out[i] = HeadHash(h)
	}
	return ed25519.PublicKey(r.Account), out, nil
}

func rawsOf(hs []*SignedHead) [][]byte {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		out[i] = h.raw
	}
	return out
}
