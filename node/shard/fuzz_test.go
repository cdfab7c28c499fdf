package shard

import (
	"crypto/ed25519"
	"testing"

	"github.com/borgios/borgios/node/wire"
)

var fuzzRoot = [32]byte{1, 2, 3}

func fuzzKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
}

// FuzzManifest feeds arbitrary bytes to the manifest decoders: no panic,
// and anything that opens must be internally consistent.
func FuzzManifest(f *testing.F) {
	key := fuzzKey()
	for _, size := range []int64{0, 1, DefaultChunkSize + 1} {
		m := sampleManifest(size)
		raw, err := m.Seal(key, &fuzzRoot)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte{0xa2, 0x01, 0x40, 0x02, 0x40})
	f.Add([]byte{})
	owner := key.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := VerifyManifest(raw); err != nil {
			return
		}
		m, err := OpenManifest(raw, owner, &fuzzRoot)
		if err != nil {
			return
		}
		if err := m.Check(); err != nil {
			t.Fatalf("opened an inconsistent manifest: %v", err)
		}
	})
}

// FuzzAuth feeds arbitrary bytes to the grant/delete verifier.
func FuzzAuth(f *testing.F) {
	key := fuzzKey()
	g, _ := SignStore(key, "net", ID{1}, 100, 5)
	d, _ := SignDelete(key, "net", ID{2}, 6)
	f.Add(g.Raw())
	f.Add(d.Raw())
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := VerifyAuth(raw, "net")
		if err != nil {
			return
		}
		if a.Kind != AuthStore && a.Kind != AuthDelete || len(a.Owner) != ed25519.PublicKeySize {
			t.Fatalf("accepted auth with bad fields: %+v", a)
		}
	})
}

// FuzzRequests feeds arbitrary payloads to every receptor request decoder
// and the client's answer decoders.
func FuzzRequests(f *testing.F) {
	key := fuzzKey()
	g, _ := SignStore(key, "net", ID{1}, 3, 5)
	seeds := []any{
		storeRequest{Grant: g.Raw(), Data: []byte("abc")},
		idRequest{ID: make([]byte, 32)},
		hasRequest{IDs: [][]byte{make([]byte, 32), make([]byte, 32)}},
		proveRequest{ID: make([]byte, 32), Challenge: make([]byte, 32)},
		deleteRequest{Auth: g.Raw()},
		readAnswer{Data: []byte("x"), Grant: g.Raw()},
		hasAnswer{Held: []bool{true, false}},
		proveAnswer{Proof: make([]byte, 32)},
	}
	for _, s := range seeds {
		b, err := wire.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeStore(b); err == nil && len(r.Data) > MaxShardSize {
			t.Fatal("oversized store accepted")
		}
		decodeID(b)
		if ids, err := decodeHas(b); err == nil && len(ids) > MaxHasIDs {
			t.Fatal("oversized has accepted")
		}
		decodeProve(b)
		decodeDelete(b)
		decodeReadAnswer(b)
		if h, err := decodeHasAnswer(b, 2); err == nil && len(h) != 2 {
			t.Fatal("has answer of wrong length accepted")
		}
		decodeProveAnswer(b)
	})
}

// FuzzDecodeRedirect: a busy holder's redirect never panics the reader
// and yields a well-formed member or an error.
func FuzzDecodeRedirect(f *testing.F) {
	ok, _ := wire.Marshal(Redirect{Key: make([]byte, 32), Addr: "127.0.0.1:7446"})
	f.Add(ok)
	bad, _ := wire.Marshal(Redirect{Key: make([]byte, 3), Addr: ""})
	f.Add(bad)
	f.Add([]byte{})
	f.Add([]byte{0xa2, 0x01, 0x5a, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, found, err := DecodeRedirect(b)
		if err == nil && found && (len(m.Key) != 32 || m.Addr == "") {
			t.Fatalf("accepted redirect %+v", m)
		}
	})
}
