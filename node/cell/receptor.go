package cell

import (
	"context"
	"errors"

	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

// Request is a verified client request handed to a receptor function.
type Request struct {
	// Env is the verified request envelope; Env.Sender is who signed it (a
	// person's account key or a node key).
	Env *wire.Envelope
	// Peer is the connection the request came on (often not the signer:
	// a conduit's transport key is not its person's key).
	Peer transport.Peer
}

// ReceptorFunc answers one kind of request with a payload, or an error.
// Returning an *Error sends its code; any other error is logged and
// answered as CodeInternal so internals never leak to clients.
type ReceptorFunc func(ctx context.Context, req *Request) ([]byte, error)

// Answer kinds.
const (
	KindOK    = "ok"
	KindError = "error"
)

// Built-in request kinds every cell answers.
const (
	// KindView returns the node's View of the cell's tree.
	KindView = "view"
	// KindAnnounce broadcasts the envelope in the payload (signed by the
	// requester, for this cell) to every member of the tree.
	KindAnnounce = "announce"
)

// handleRequest is the receptor: every request is a signed envelope
// checked by the node's one Verify; every answer, errors included, is an
// envelope signed by this node and bound to the request's ID when the
// request could be parsed, so a client can tell a genuine answer from a
// replayed or swapped one.
func (r *Runtime) handleRequest(ctx context.Context, peer transport.Peer, raw []byte) ([]byte, error) {
	var ref *wire.Envelope
	if len(raw) > r.typ.MaxRequest {
		r.stats.request("", CodeTooLarge)
		return r.answerError(nil, Errorf(CodeTooLarge, "request of %d bytes exceeds the %d-byte limit of cell %s", len(raw), r.typ.MaxRequest, r.typ.DNA.Name))
	}
	if e, err := wire.Decode(raw, r.typ.MaxRequest); err == nil {
		ref = e
	}
	env, err := r.host.Verifier.Verify(raw)
	if err != nil {
		code := codeOf(err)
		r.stats.request("", code)
		return r.answerError(ref, Errorf(code, "%v", err))
	}
	if env.Cell != r.typ.DNA.Name {
		r.stats.request(env.Kind, CodeWrongCell)
		return r.answerError(env, Errorf(CodeWrongCell, "request for cell %q sent to cell %q", env.Cell, r.typ.DNA.Name))
	}
	h := r.builtin(env.Kind)
	if h == nil {
		h = r.typ.Receptor[env.Kind]
	}
	if h == nil {
		r.stats.request(env.Kind, CodeUnknownKind)
		return r.answerError(env, Errorf(CodeUnknownKind, "cell %s has no request %q", r.typ.DNA.Name, env.Kind))
	}
	payload, err := h(ctx, &Request{Env: env, Peer: peer})
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			r.log.Error("receptor failed", "kind", env.Kind, "err", err)
			ce = Errorf(CodeInternal, "the node could not serve this request; try another node")
		}
		r.stats.request(env.Kind, ce.Code)
		return r.answerError(env, ce)
	}
	r.stats.request(env.Kind, "")
	return wire.Reply(r.host.Key, env, KindOK, payload, r.host.Now())
}

func (r *Runtime) answerError(req *wire.Envelope, e *Error) ([]byte, error) {
	payload, err := wire.Marshal(e)
	if err != nil {
		return nil, err
	}
	if req != nil {
		return wire.Reply(r.host.Key, req, KindError, payload, r.host.Now())
	}
	return wire.Seal(r.host.Key, wire.Header{Network: r.host.Network, Cell: r.typ.DNA.Name, Kind: KindError, Time: r.host.Now()}, payload)
}

func (r *Runtime) builtin(kind string) ReceptorFunc {
	switch kind {
	case KindView:
		return func(context.Context, *Request) ([]byte, error) {
			v := r.View()
			return wire.Marshal(viewWire{Status: v.Status, Position: v.Position, Size: v.Size, Epoch: uint64(v.epoch), Root: v.Root, Parent: v.Parent, Children: v.Children})
		}
	case KindAnnounce:
		return r.announce
	case KindTree:
		return r.answerTree
	}
	return nil
}

// viewWire is the View as the receptor sends it.
type viewWire struct {
	Status   string     `cbor:"1,keyasint"`
	Position int        `cbor:"2,keyasint"`
	Size     int        `cbor:"3,keyasint"`
	Epoch    uint64     `cbor:"4,keyasint"`
	Root     Endpoint   `cbor:"5,keyasint"`
	Parent   Endpoint   `cbor:"6,keyasint"`
	Children []Endpoint `cbor:"7,keyasint"`
}

// maxAnnounce bounds an announced envelope: broadcasts reach every node,
// so they must stay small.
const maxAnnounce = 4 << 10

func (r *Runtime) announce(_ context.Context, req *Request) ([]byte, error) {
	if len(req.Env.Payload) > maxAnnounce {
		return nil, Errorf(CodeTooLarge, "announcement of %d bytes exceeds %d", len(req.Env.Payload), maxAnnounce)
	}
	inner, err := r.host.Verifier.Verify(req.Env.Payload)
	if err != nil {
		return nil, Errorf(codeOf(err), "announced envelope: %v", err)
	}
	if inner.Cell != r.typ.DNA.Name || !inner.Sender.Equal(req.Env.Sender) {
		return nil, Errorf(CodeBadRequest, "announced envelope must be for cell %s and signed by the requester", r.typ.DNA.Name)
	}
	if err := r.BroadcastEnvelope(inner); err != nil {
		return nil, Errorf(CodeInternal, "%v", err)
	}
	id := inner.ID()
	return id[:], nil
}
