package files

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

// sampleHead is a valid signed head (root: a sealed manifest of an empty
// file) for seeds and pure tests.
func sampleHead(t testing.TB, seq uint64, parents ...*SignedHead) (*SignedHead, ed25519.PrivateKey) {
	_, key, _ := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	var root [32]byte
	m := &shard.Manifest{ChunkSize: shard.DefaultChunkSize, Created: 1}
	sealed, err := m.Seal(key, &root)
	if err != nil {
		t.Fatal(err)
	}
	var ps [][]byte
	for _, p := range parents {
		ps = append(ps, p.hash[:])
	}
	h, err := SignHead(key, Head{Seq: seq, Root: sealed, Parents: ps, Time: 5, Device: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return h, key
}

func sampleDir() *Directory {
	return &Directory{Entries: []Entry{
		{Name: "a", Kind: KindFile, Size: 3, MTime: 1, Ref: []byte{1}},
		{Name: "b", Kind: KindDir, Size: 0, MTime: 2, Ref: []byte{2}},
	}}
}

func TestHeadSignVerify(t *testing.T) {
	h1, key := sampleHead(t, 1)
	if _, err := VerifyHead(h1.Raw()); err != nil {
		t.Fatal(err)
	}
	h2, err := SignHead(key, Head{Seq: 2, Root: h1.Root, Parents: [][]byte{h1.hash[:]}})
	if err != nil {
		t.Fatal(err)
	}
	if ps := h2.ParentHashes(); len(ps) != 1 || ps[0] != h1.hash || !h2.HasParent(h1.hash) || h1.HasParent(h2.hash) {
		t.Fatalf("parents of h2: %v", ps)
	}
	if _, err := SignHead(key, Head{Seq: 2, Root: h1.Root}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("seq 2 without parents: %v", err)
	}
	if _, err := SignHead(key, Head{Seq: 3, Root: h1.Root, Parents: [][]byte{h1.hash[:], h1.hash[:]}}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("repeated parent: %v", err)
	}
	if _, err := SignHead(key, Head{Seq: 2, Root: h1.Root, Parents: [][]byte{h1.hash[:]}, Prev: h1.hash[:]}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("version 2 head with a prev: %v", err)
	}
	for i := range h1.Raw() {
		bad := bytes.Clone(h1.Raw())
		bad[i] ^= 0x40
		if _, err := VerifyHead(bad); err == nil {
			t.Fatalf("flipping byte %d still verifies", i)
		}
	}
	if _, err := SignHead(key, Head{Seq: 1, Root: h1.Root, Parents: [][]byte{h1.hash[:]}}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("first head with a prev: %v", err)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	if _, err := SignHead(other, Head{Seq: 1, Root: h1.Root}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("head over another account's root: %v", err)
	}
}

func TestDirectoryAndPaths(t *testing.T) {
	d := sampleDir()
	b, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeDirectory(b)
	if err != nil || len(back.Entries) != 2 || back.Find("b") != 1 || back.Find("c") != -1 {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	back.Set(Entry{Name: "0", Kind: KindFile, Ref: []byte{3}})
	if back.Entries[0].Name != "0" || back.Check() != nil {
		t.Fatal("set keeps order")
	}
	unsorted := &Directory{Version: dirVersion, Entries: []Entry{d.Entries[1], d.Entries[0]}}
	raw, _ := wire.Marshal(unsorted)
	if _, err := DecodeDirectory(raw); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unsorted directory: %v", err)
	}
	for _, p := range []string{"", "/", "a/b", "/a/../b", "//x//"} {
		if _, err := SplitPath(p); err != nil {
			t.Fatalf("%q: %v", p, err)
		}
	}
	if n, _ := SplitPath("/a/../b/"); len(n) != 1 || n[0] != "b" {
		t.Fatalf("clean: %v", n)
	}
	if _, err := SplitPath("/a\x00b"); !errors.Is(err, ErrBadPath) {
		t.Fatal("NUL in a name")
	}
}

func FuzzVerifyHead(f *testing.F) {
	h, _ := sampleHead(f, 1)
	f.Add(h.Raw())
	h2, _ := sampleHead(f, 2, h)
	f.Add(h2.Raw())
	f.Add(v1Head(f).Raw())
	f.Add([]byte{})
	f.Add([]byte{0xa2, 0x01, 0x40, 0x02, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := VerifyHead(b)
		if err != nil {
			return
		}
		if again, err := VerifyHead(h.Raw()); err != nil || again.hash != h.hash {
			t.Fatalf("verified head does not verify again: %v", err)
		}
	})
}

func FuzzDecodeHeadMsg(f *testing.F) {
	h, _ := sampleHead(f, 1)
	m, _ := wire.Marshal(headMsg{Head: h.Raw()})
	f.Add(m)
	h2, _ := sampleHead(f, 2, h)
	m, _ = wire.Marshal(headMsg{Head: h2.Raw(), Chain: [][]byte{h.Raw()}})
	f.Add(m)
	f.Add([]byte{0xa1, 0x01, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, chain, err := decodeHeadMsg(b)
		if err != nil {
			return
		}
		if len(chain) > MaxChain {
			t.Fatalf("chain of %d accepted", len(chain))
		}
		for _, c := range chain {
			if !bytes.Equal(c.Account, h.Account) {
				t.Fatal("chain head of another account accepted")
			}
		}
	})
}

func FuzzDecodeHeads(f *testing.F) {
	h, key := sampleHead(f, 1)
	h2, _ := sampleHead(f, 2, h)
	m, _ := wire.Marshal(headsMsg{Heads: [][]byte{h.Raw(), h2.Raw()}})
	f.Add(m)
	f.Add([]byte{0xa1, 0x01, 0x80})
	acct := key.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, b []byte) {
		hs, err := decodeHeads(b, acct)
		if err != nil {
			return
		}
		for _, h := range hs {
			if !acct.Equal(ed25519.PublicKey(h.Account)) {
				t.Fatal("head of another account accepted")
			}
		}
	})
}

func FuzzDecodeHeadsRequest(f *testing.F) {
	m, _ := wire.Marshal(headsRequest{Account: make([]byte, 32), Hashes: [][]byte{make([]byte, 32)}})
	f.Add(m)
	f.Add([]byte{0xa1, 0x01, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, hs, err := decodeHeadsRequest(b)
		if err == nil && (len(a) != ed25519.PublicKeySize || len(hs) > maxHeadsAsked) {
			t.Fatal("bad request accepted")
		}
	})
}

// v1Head signs a version 1 head (a single Prev), as trees written before
// version 2 hold.
func v1Head(t testing.TB) *SignedHead {
	h, key := sampleHead(t, 1)
	body, _ := wire.Marshal(Head{Version: 1, Account: h.Account, Seq: 1, Root: h.Root, Prev: make([]byte, 32), Time: 5})
	raw, _ := wire.Marshal(signedHead{Body: body, Sig: ed25519.Sign(key, append([]byte(headSigDomain), body...))})
	v1, err := VerifyHead(raw)
	if err != nil {
		t.Fatal(err)
	}
	return v1
}

func FuzzDecodeAccount(f *testing.F) {
	m, _ := wire.Marshal(accountRequest{Account: make([]byte, 32)})
	f.Add(m)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := decodeAccount(b); err == nil && len(a) != ed25519.PublicKeySize {
			t.Fatal("account of the wrong size accepted")
		}
	})
}

func FuzzDecodeDirectory(f *testing.F) {
	b, _ := sampleDir().Encode()
	f.Add(b)
	e, _ := (&Directory{}).Encode()
	f.Add(e)
	f.Add([]byte{0xa2, 0x01, 0x01, 0x02, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDirectory(b)
		if err != nil {
			return
		}
		again, err := d.Encode()
		if err != nil {
			t.Fatalf("decoded directory does not encode: %v", err)
		}
		if _, err := DecodeDirectory(again); err != nil {
			t.Fatalf("re-encoded directory does not decode: %v", err)
		}
	})
}
