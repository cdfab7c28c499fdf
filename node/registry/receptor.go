package registry

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/wire"
)

// Request kinds of the registry receptor.
const (
	// KindLookup: lookupRequest -> entryList of nodes serving a cell, best first.
	KindLookup = "lookup"
	// KindDump: dumpRequest -> entryList, a page of the whole table in key order.
	KindDump = "dump"
	// KindSelf: no payload -> the answering node's own signed entry.
	KindSelf = "self"
)

// Limits of the receptor.
const (
	DefaultLookupLimit = 16
	MaxLookupLimit     = 64
	// MaxDumpLimit keeps a page under 256 * 2 KiB = 512 KiB, inside the
	// 1 MiB an answer envelope may have.
	MaxDumpLimit = 256
)

type lookupRequest struct {
	Cell  string `cbor:"1,keyasint"`
	Limit int    `cbor:"2,keyasint,omitempty"`
}

type dumpRequest struct {
	After []byte `cbor:"1,keyasint,omitempty"`
	Limit int    `cbor:"2,keyasint,omitempty"`
}

// item is one signed entry in an answer, with the answering node's own
// RTT measurement beside it (outside the signature, advisory).
type item struct {
	Entry     []byte `cbor:"1,keyasint"`
	RTTMicros uint32 `cbor:"2,keyasint,omitempty"`
}

type entryList struct {
	Items []item `cbor:"1,keyasint"`
	// Next is the dump cursor; empty on the last page and in lookups.
	Next []byte `cbor:"2,keyasint,omitempty"`
}

func items(es []*Entry) []item {
	out := make([]item, len(es))
	for i, e := range es {
		out[i] = item{Entry: e.raw, RTTMicros: uint32(min(e.RTT.Microseconds(), 1<<32-1))}
	}
	return out
}

func (r *Registry) handleLookup(_ context.Context, req *cell.Request) ([]byte, error) {
	var q lookupRequest
	if err := wire.Unmarshal(req.Env.Payload, &q); err != nil {
		return nil, cell.Errorf(cell.CodeBadRequest, "lookup: %v", err)
	}
	if !cellName.MatchString(q.Cell) {
		return nil, cell.Errorf(cell.CodeBadRequest, "lookup: cell name %q", q.Cell)
	}
	if q.Limit < 0 || q.Limit > MaxLookupLimit {
		return nil, cell.Errorf(cell.CodeBadRequest, "lookup: limit %d not in 0..%d", q.Limit, MaxLookupLimit)
	}
	if q.Limit == 0 {
		q.Limit = DefaultLookupLimit
	}
	return wire.Marshal(entryList{Items: items(r.Lookup(q.Cell, q.Limit))})
}

func (r *Registry) handleDump(_ context.Context, req *cell.Request) ([]byte, error) {
	var q dumpRequest
	if err := wire.Unmarshal(req.Env.Payload, &q); err != nil {
		return nil, cell.Errorf(cell.CodeBadRequest, "dump: %v", err)
	}
	if len(q.After) != 0 && len(q.After) != ed25519.PublicKeySize {
		return nil, cell.Errorf(cell.CodeBadRequest, "dump: cursor of %d bytes", len(q.After))
	}
	if q.Limit < 0 || q.Limit > MaxDumpLimit {
		return nil, cell.Errorf(cell.CodeBadRequest, "dump: limit %d not in 0..%d", q.Limit, MaxDumpLimit)
	}
	if q.Limit == 0 {
		q.Limit = MaxDumpLimit
	}
	es, next := r.tab.dump(q.After, q.Limit, r.cfg.Host.Now())
	return wire.Marshal(entryList{Items: items(es), Next: next})
}

func (r *Registry) handleSelf(context.Context, *cell.Request) ([]byte, error) {
	e := r.self.Load()
	if e == nil {
		return nil, cell.Errorf(cell.CodeNotFound, "this node has not signed its entry yet")
	}
	return e.raw, nil
}

func rttOf(it item) time.Duration { return time.Duration(it.RTTMicros) * time.Microsecond }
