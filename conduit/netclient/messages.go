package netclient

import (
	"fmt"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

// The shard cell's store and has payloads. The shard package keeps its
// message types unexported and its client has no per-shard store or has
// call, which a resumable upload needs; these mirror its wire format
// (node/shard/messages.go), and the tests against real shard nodes hold
// the two together.
type storeRequest struct {
	Grant []byte `cbor:"1,keyasint"`
	Data  []byte `cbor:"2,keyasint"`
}

type hasRequest struct {
	IDs [][]byte `cbor:"1,keyasint"`
}

type hasAnswer struct {
	Held []bool `cbor:"1,keyasint"`
}

// decodeHasAnswer decodes a node's answer to a "has" of n IDs: exactly n
// booleans, or the node is not answering the question asked.
func decodeHasAnswer(b []byte, n int) ([]bool, error) {
	var a hasAnswer
	if err := wire.Unmarshal(b, &a); err != nil {
		return nil, cell.Errorf(cell.CodeBadAnswer, "undecodable has answer: %v", err)
	}
	if len(a.Held) != n {
		return nil, cell.Errorf(cell.CodeBadAnswer, "has answer of %d flags for %d IDs", len(a.Held), n)
	}
	return a.Held, nil
}

func hasPayload(ids []shard.ID) ([]byte, error) {
	if len(ids) > shard.MaxHasIDs {
		return nil, fmt.Errorf("netclient: has of %d IDs exceeds %d", len(ids), shard.MaxHasIDs)
	}
	r := hasRequest{IDs: make([][]byte, len(ids))}
	for i := range ids {
		r.IDs[i] = ids[i][:]
	}
	return wire.Marshal(r)
}
