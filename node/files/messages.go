package files

import (
	"crypto/ed25519"
	"fmt"

	"github.com/borgios/borgios/node/wire"
)

// Receptor kinds of the files cell.
const (
	// KindPutHead: the owner's compare-and-swap update.
	KindPutHead = "put-head"
	// KindGetHead: the head kept for an account.
	KindGetHead = "get-head"
	// KindSyncHead: replication between holders and read repair; a newer
	// validly signed head replaces an older one.
	KindSyncHead = "sync-head"
)

type headMsg struct {
	Head []byte `cbor:"1,keyasint"`
}

type accountRequest struct {
	Account []byte `cbor:"1,keyasint"`
}

// decodeHeadMsg decodes a put-head or sync-head request, or a get-head
// answer, and verifies the head it carries.
func decodeHeadMsg(b []byte) (*SignedHead, error) {
	if len(b) > MaxHeadSize+64 {
		return nil, fmt.Errorf("%w: head message of %d bytes", ErrMalformed, len(b))
	}
	var m headMsg
	if err := wire.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: head message: %v", ErrMalformed, err)
	}
	return VerifyHead(m.Head)
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
