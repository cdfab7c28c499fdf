package registry

import (
	"errors"
	"testing"
)

var sentinels = []error{ErrMalformed, ErrTooLarge, ErrBadSignature, ErrForged, ErrExpired, ErrFuture, ErrLifetime}

// FuzzEntryPayload feeds arbitrary bytes to the entry payload decoder:
// it must never panic, every error must carry a sentinel, and whatever it
// accepts must re-encode to the exact same bytes (one encoding per entry).
func FuzzEntryPayload(f *testing.F) {
	key := newKey(f)
	now := int64(1767225600000)
	for _, w := range []entryWire{validWire(key, now, 1), {}, {Node: make([]byte, 32), Addrs: []string{"[::1]:1"}}} {
		b, err := marshalWire(w)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xa0})
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodePayload(b)
		if err != nil {
			if !hasSentinel(err) {
				t.Fatalf("error without sentinel: %v", err)
			}
			return
		}
		again, err := marshalWire(entryWire{Node: e.Node, Addrs: e.Addrs, Cells: e.Cells, Load: e.Load, Reach: e.Reach,
			IssuedAt: e.IssuedAt, Seq: e.Seq, ExpiresAt: e.ExpiresAt})
		if err != nil {
			t.Fatalf("accepted entry does not re-encode: %v", err)
		}
		if _, err := decodePayload(again); err != nil {
			t.Fatalf("re-encoded entry refused: %v", err)
		}
	})
}

// FuzzVerify feeds arbitrary bytes to Verify, the decoder of signed
// entries from dumps and lookup answers.
func FuzzVerify(f *testing.F) {
	key := newKey(f)
	now := int64(1767225600000)
	f.Add(sealWire(f, key, validWire(key, now, 1), now))
	f.Add(sealWire(f, key, validWire(newKey(f), now, 1), now))
	f.Add([]byte("BORG"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Verify(b, testNetwork, now, Policy{})
		if err != nil {
			if !hasSentinel(err) {
				t.Fatalf("error without sentinel: %v", err)
			}
			return
		}
		if !e.Node.Equal(e.Node) || len(e.Raw()) != len(b) {
			t.Fatal("accepted entry does not keep its bytes")
		}
	})
}

func hasSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
