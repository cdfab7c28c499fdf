package wire

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Limits applied by Unmarshal. Payloads are protocol messages, not
// documents: a shallow depth and a bounded element count cap the memory and
// stack a hostile payload can make us spend, well before MaxSize would.
const (
	CBORMaxDepth    = 16
	CBORMaxElements = 1 << 16 // per array, and key-value pairs per map
)

var (
	encMode = mustEncMode()
	decMode = mustDecMode()
)

func mustEncMode() cbor.EncMode {
	// Core Deterministic Encoding (RFC 8949 section 4.2.1): shortest
	// integer and float forms, map keys and struct fields sorted bytewise,
	// no indefinite lengths. Equal values always give equal bytes, so a
	// payload can be hashed, compared and signed by value.
	opts := cbor.CoreDetEncOptions()
	// No tags at all: a tag-free profile has one way to say each thing
	// (a tagged and an untagged time would decode to the same value and
	// re-encode to one of them). time.Time becomes an RFC 3339 string,
	// which loses nothing; protocol messages should carry int64 Unix ms
	// anyway, as the envelope does.
	opts.TagsMd = cbor.TagsForbidden
	opts.Time = cbor.TimeRFC3339Nano
	m, err := opts.EncMode()
	if err != nil {
		panic("wire: cbor encoder options: " + err.Error())
	}
	return m
}

func mustDecMode() cbor.DecMode {
	m, err := cbor.DecOptions{
		// Two values for one key would let two readers see two messages.
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		MaxNestedLevels:  CBORMaxDepth,
		MaxArrayElements: CBORMaxElements,
		MaxMapPairs:      CBORMaxElements,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic("wire: cbor decoder options: " + err.Error())
	}
	return m
}

// Marshal encodes v as deterministic CBOR, the one payload encoding inside
// envelopes. Struct fields follow the `cbor` tags of fxamacker/cbor (with
// `json` tags as fallback); prefer small integer keys (`cbor:"1,keyasint"`)
// for compact frequent messages.
//
// Marshal refuses values that Unmarshal would refuse (too deep, too many
// elements, integers beyond 64 bits, which need a bignum tag), so a sender
// learns at once rather than every receiver later.
func Marshal(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("wire: cbor marshal %T: %w", v, err)
	}
	if err := decMode.Wellformed(b); err != nil {
		return nil, fmt.Errorf("wire: cbor marshal %T: result outside the payload profile: %w", v, err)
	}
	return b, nil
}

// Unmarshal decodes one CBOR item into v (a non-nil pointer). It rejects
// trailing bytes, duplicate map keys, indefinite lengths, tags and invalid
// UTF-8 (ErrMalformed), and nesting or element counts above the limits
// (ErrOversize). Unknown struct fields are ignored so that messages can
// grow new fields.
func Unmarshal(b []byte, v any) error {
	err := decMode.Unmarshal(b, v)
	if err == nil {
		return nil
	}
	var (
		nested *cbor.MaxNestedLevelError
		arr    *cbor.MaxArrayElementsError
		pairs  *cbor.MaxMapPairsError
		inval  *cbor.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &inval):
		return fmt.Errorf("wire: cbor unmarshal: %w", err) // caller's bug, not the peer's
	case errors.As(err, &nested), errors.As(err, &arr), errors.As(err, &pairs):
		return fmt.Errorf("%w: cbor payload: %w", ErrOversize, err)
	default:
		return fmt.Errorf("%w: cbor payload: %w", ErrMalformed, err)
	}
}
