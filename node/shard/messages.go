package shard

import (
	"fmt"

	"github.com/borgios/borgios/node/wire"
)

// Receptor kinds of the shard cell.
const (
	KindStore  = "store"
	KindRead   = "read"
	KindDelete = "delete"
	KindHas    = "has"
	KindProve  = "prove"
)

// MaxHasIDs bounds one "has" question (32 KiB of IDs).
const MaxHasIDs = 1024

// storeRequest carries a shard and the owner's grant for it. The sender
// may be the owner or a node repairing the shard.
type storeRequest struct {
	Grant []byte `cbor:"1,keyasint"`
	Data  []byte `cbor:"2,keyasint"`
}

type idRequest struct {
	ID []byte `cbor:"1,keyasint"`
}

type readAnswer struct {
	Data []byte `cbor:"1,keyasint"`
	// Grant is one owner grant the holder keeps for the shard, so a reader
	// can repair missing copies with the owner's own permission.
	Grant []byte `cbor:"2,keyasint"`
}

type hasRequest struct {
	IDs [][]byte `cbor:"1,keyasint"`
}

type hasAnswer struct {
	Held []bool `cbor:"1,keyasint"`
}

type proveRequest struct {
	ID        []byte `cbor:"1,keyasint"`
	Challenge []byte `cbor:"2,keyasint"`
}

type proveAnswer struct {
	Proof []byte `cbor:"1,keyasint"`
}

type deleteRequest struct {
	Auth []byte `cbor:"1,keyasint"`
}

func decodeStore(b []byte) (*storeRequest, error) {
	var r storeRequest
	if err := wire.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: store request: %v", ErrMalformed, err)
	}
	if len(r.Data) > MaxShardSize || len(r.Grant) > MaxAuthSize {
		return nil, fmt.Errorf("%w: store request of %d data bytes", ErrMalformed, len(r.Data))
	}
	return &r, nil
}

func decodeID(b []byte) (ID, error) {
	var r idRequest
	if err := wire.Unmarshal(b, &r); err != nil {
		return ID{}, fmt.Errorf("%w: request: %v", ErrMalformed, err)
	}
	return idFrom(r.ID)
}

func decodeHas(b []byte) ([]ID, error) {
	var r hasRequest
	if err := wire.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: has request: %v", ErrMalformed, err)
	}
	if len(r.IDs) > MaxHasIDs {
		return nil, fmt.Errorf("%w: has request of %d IDs, limit %d", ErrMalformed, len(r.IDs), MaxHasIDs)
	}
	ids := make([]ID, len(r.IDs))
	for i, b := range r.IDs {
		id, err := idFrom(b)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

func decodeProve(b []byte) (ID, Challenge, error) {
	var r proveRequest
	var c Challenge
	if err := wire.Unmarshal(b, &r); err != nil {
		return ID{}, c, fmt.Errorf("%w: prove request: %v", ErrMalformed, err)
	}
	id, err := idFrom(r.ID)
	if err != nil {
		return id, c, err
	}
	if len(r.Challenge) != len(c) {
		return id, c, fmt.Errorf("%w: challenge of %d bytes", ErrMalformed, len(r.Challenge))
	}
	copy(c[:], r.Challenge)
	return id, c, nil
}

func decodeDelete(b []byte) ([]byte, error) {
	var r deleteRequest
	if err := wire.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: delete request: %v", ErrMalformed, err)
	}
	return r.Auth, nil
}

// decodeReadAnswer is the client's decoder of a holder's read answer.
func decodeReadAnswer(b []byte) (*readAnswer, error) {
	var a readAnswer
	if err := wire.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%w: read answer: %v", ErrMalformed, err)
	}
	if len(a.Data) > MaxShardSize || len(a.Grant) > MaxAuthSize {
		return nil, fmt.Errorf("%w: read answer of %d bytes", ErrMalformed, len(a.Data))
	}
	return &a, nil
}

func decodeHasAnswer(b []byte, n int) ([]bool, error) {
	var a hasAnswer
	if err := wire.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%w: has answer: %v", ErrMalformed, err)
	}
	if len(a.Held) != n {
		return nil, fmt.Errorf("%w: has answer of %d for %d IDs", ErrMalformed, len(a.Held), n)
	}
	return a.Held, nil
}

func decodeProveAnswer(b []byte) ([32]byte, error) {
	var a proveAnswer
	var p [32]byte
	if err := wire.Unmarshal(b, &a); err != nil {
		return p, fmt.Errorf("%w: prove answer: %v", ErrMalformed, err)
	}
	if len(a.Proof) != len(p) {
		return p, fmt.Errorf("%w: proof of %d bytes", ErrMalformed, len(a.Proof))
	}
	copy(p[:], a.Proof)
	return p, nil
}
