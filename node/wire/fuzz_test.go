package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"
)

// fuzzEnvelopes are the seeds shared by the envelope fuzz targets: the
// committed vectors plus damaged variants that reach each decoding branch.
func fuzzEnvelopes(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, kv := range loadKAT(f) {
		b := unhex(f, kv.Envelope)
		seeds = append(seeds, b,
			b[:len(b)-1],                 // truncated signature
			b[:MinSize-1],                // below minimum
			b[:5],                        // magic and version only
			append(b[:len(b):len(b)], 0), // trailing byte
			flip(b, 4),                   // unknown version
			flip(b, 5),                   // network length
			flip(b, len(b)-70),           // payload or digest
		)
	}
	seeds = append(seeds, nil, []byte("BORG"), bytes.Repeat([]byte{0xff}, 300))
	return seeds
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzEnvelopes(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b, 1<<16)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrOversize) && !errors.Is(err, ErrUnknownVersion) {
				t.Fatalf("Decode error with no sentinel: %v", err)
			}
			if e != nil {
				t.Fatal("Decode returned an envelope with an error")
			}
			return
		}
		if !bytes.Equal(e.Bytes(), b) {
			t.Fatal("Decode->Bytes does not round-trip")
		}
		if len(e.Sender) != ed25519.PublicKeySize || e.hdrLen+len(e.Payload)+SignatureSize != len(b) {
			t.Fatalf("inconsistent envelope: sender %d, header %d, payload %d, total %d",
				len(e.Sender), e.hdrLen, len(e.Payload), len(b))
		}
		e2, err := Decode(e.Bytes(), 0)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if e2.Header != e.Header || e2.ID() != e.ID() || !bytes.Equal(e2.Payload, e.Payload) || e2.Sig != e.Sig {
			t.Fatal("re-decode differs")
		}
		// Whatever Decode accepts, Seal must be able to produce: the
		// header fields are within Seal's rules.
		if err := checkName("network", e.Network, false); err != nil {
			t.Fatal(err)
		}
		if err := checkName("cell", e.Cell, true); err != nil {
			t.Fatal(err)
		}
		if err := checkName("kind", e.Kind, false); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzVerify(f *testing.F) {
	for _, s := range fuzzEnvelopes(f) {
		f.Add(s)
	}
	const now = 1767225600100 // within the window of the committed vectors
	f.Fuzz(func(t *testing.T, b []byte) {
		v := NewVerifier(Config{Network: "borgios-main", Now: func() int64 { return now }, MaxSize: 1 << 16})
		e, err := v.Verify(b)
		if err != nil {
			known := []error{ErrMalformed, ErrOversize, ErrUnknownVersion, ErrWrongNetwork, ErrTooOld,
				ErrFromFuture, ErrBadSignature, ErrPayloadTampered}
			for _, k := range known {
				if errors.Is(err, k) {
					return
				}
			}
			t.Fatalf("Verify error with no expected sentinel: %v", err)
		}
		// Accepted: re-check every promise independently.
		hash := signingHash(b[:e.hdrLen])
		if !ed25519.Verify(e.Sender, hash[:], b[len(b)-SignatureSize:]) {
			t.Fatal("accepted an envelope whose signature does not verify")
		}
		if sha256.Sum256(e.Payload) != e.PayloadDigest() || e.Network != "borgios-main" {
			t.Fatal("accepted a tampered payload or foreign network")
		}
		if _, err := v.Verify(b); !errors.Is(err, ErrReplay) {
			t.Fatalf("second Verify: err = %v, want ErrReplay", err)
		}
	})
}

func FuzzUnmarshal(f *testing.F) {
	for _, h := range []string{
		"a16568656c6c6f65776f726c64", "a1626f6bf5", "a2616101616102", "9f0102ff", "f97e00",
		"c11a514b67b0", "c249010000000000000000", "d82a4100", "5bffffffffffffffff",
		"8181818181818181818181818181818100", "a3010203040506", "7f616161ff", "62c328", "",
	} {
		f.Add(unhex(f, h))
	}
	for _, v := range []any{cborSample{Name: "x", Tags: []string{"a"}, Attrs: map[string]uint32{"k": 1}}, []any{1, "two", 3.5, nil, true}} {
		b, err := Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s cborSample
		if err := Unmarshal(b, &s); err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrOversize) {
			t.Fatalf("struct: error with no sentinel: %v", err)
		}
		var v any
		if err := Unmarshal(b, &v); err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrOversize) {
				t.Fatalf("any: error with no sentinel: %v", err)
			}
			return
		}
		// Re-encoding is canonical: encoding what was decoded is stable.
		c1, err := Marshal(v)
		if err != nil {
			return // e.g. a decoded value Go cannot re-encode as a map key
		}
		var v2 any
		if err := Unmarshal(c1, &v2); err != nil {
			t.Fatalf("our own encoding of %x does not decode: %v", b, err)
		}
		c2, err := Marshal(v2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c1, c2) {
			t.Fatalf("encoding not canonical: %x then %x", c1, c2)
		}
	})
}
