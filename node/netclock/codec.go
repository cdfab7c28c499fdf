package netclock

import (
	"fmt"

	"github.com/borgios/borgios/node/crono"
	"github.com/borgios/borgios/node/wire"
)

// ErrMalformed: a sync payload does not decode or is out of range.
var ErrMalformed = fmt.Errorf("netclock: malformed sync payload")

// DecodeRequest decodes a KindSync request payload from the network. The
// parent never interprets T1 (it is the child's own clock), so any values
// decode; only the CBOR profile is checked.
func DecodeRequest(b []byte) (crono.Request, error) {
	var q crono.Request
	if err := wire.Unmarshal(b, &q); err != nil {
		return crono.Request{}, fmt.Errorf("%w: request: %w", ErrMalformed, err)
	}
	return q, nil
}

// DecodeResponse decodes a parent's answer payload and checks it with
// crono's Validate before the clock sees it.
func DecodeResponse(b []byte) (crono.Response, error) {
	var r crono.Response
	if err := wire.Unmarshal(b, &r); err != nil {
		return crono.Response{}, fmt.Errorf("%w: response: %w", ErrMalformed, err)
	}
	if err := r.Validate(); err != nil {
		return crono.Response{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return r, nil
}
