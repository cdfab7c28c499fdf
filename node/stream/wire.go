package stream

import (
	"fmt"

	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

// readRequest and readAnswer are the shard cell's "read" payloads (the
// same CBOR keys as node/shard's).
type readRequest struct {
	ID []byte `cbor:"1,keyasint"`
}

type readAnswer struct {
	Data  []byte `cbor:"1,keyasint"`
	Grant []byte `cbor:"2,keyasint"`
}

// decodeRead decodes a holder's read answer and checks it against the
// manifest's entry: the exact size first (so nothing larger than the
// manifest's piece is kept), then the shard ID.
func decodeRead(b []byte, ref shard.ShardRef) ([]byte, error) {
	if len(b) > shard.MaxShardSize+shard.MaxAuthSize+64 {
		return nil, fmt.Errorf("%w: answer of %d bytes for a %d-byte shard", ErrBadPiece, len(b), ref.Size)
	}
	var a readAnswer
	if err := wire.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(a.Data) != int(ref.Size) {
		return nil, fmt.Errorf("%w: %d bytes, manifest says %d", ErrBadPiece, len(a.Data), ref.Size)
	}
	if shard.IDOf(a.Data) != ref.ID {
		return nil, fmt.Errorf("%w: bytes do not hash to shard %s", ErrBadPiece, ref.ID.Short())
	}
	return a.Data, nil
}
