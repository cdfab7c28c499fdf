package netclock_test

import (
	"testing"

	"github.com/borgios/borgios/node/crono"
	"github.com/borgios/borgios/node/netclock"
	"github.com/borgios/borgios/node/wire"
)

// FuzzDecodeRequest: what a parent decodes from any signer.
func FuzzDecodeRequest(f *testing.F) {
	good, _ := wire.Marshal(crono.Request{Seq: 1, T1: 42})
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0xa0})
	f.Add([]byte{0xa2, 0x01, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := netclock.DecodeRequest(b)
		if err != nil {
			return
		}
		if _, err := wire.Marshal(q); err != nil {
			t.Fatalf("decoded request does not re-encode: %v", err)
		}
	})
}

// FuzzDecodeResponse: what a child decodes from its parent's answer; a
// response that decodes must pass crono's Validate.
func FuzzDecodeResponse(f *testing.F) {
	good, _ := wire.Marshal(crono.Response{Seq: 1, T1: 2, T2: 1_750_000_000_000_000_000, T3: 1_750_000_000_000_100_000, Synced: true, Stratum: 1, Error: 1000, Steps: 1, Wander: 10})
	f.Add(good)
	bad, _ := wire.Marshal(crono.Response{T2: 5, T3: 4})
	f.Add(bad)
	f.Add([]byte{0xa0})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := netclock.DecodeResponse(b)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded response does not validate: %v", err)
		}
	})
}
