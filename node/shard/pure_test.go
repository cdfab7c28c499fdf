package shard

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/borgios/borgios/node/wire"
)

func testRoot(t testing.TB) *[32]byte {
	var r [32]byte
	rand.Read(r[:])
	return &r
}

func TestChunkSealOpen(t *testing.T) {
	root := testRoot(t)
	f := NewFileID()
	key := FileKey(root, f)
	plain := []byte("hello, shard world")
	sealed := SealChunk(&key, f, 7, plain)
	if len(sealed) != len(plain)+Overhead {
		t.Fatalf("sealed %d bytes", len(sealed))
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("plaintext visible in sealed chunk")
	}
	got, err := OpenChunk(nil, &key, f, 7, sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %q %v", got, err)
	}
	// Position, file and key are bound in.
	if _, err := OpenChunk(nil, &key, f, 8, sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("moved chunk opened: %v", err)
	}
	if _, err := OpenChunk(nil, &key, NewFileID(), 7, sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("chunk of another file opened: %v", err)
	}
	other := FileKey(testRoot(t), f)
	if _, err := OpenChunk(nil, &other, f, 7, sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("chunk opened under another root: %v", err)
	}
	sealed[30] ^= 1
	if _, err := OpenChunk(nil, &key, f, 7, sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered chunk opened: %v", err)
	}
	if _, err := OpenChunk(nil, &key, f, 7, sealed[:10]); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("short chunk: %v", err)
	}
	// Same content, same file: still distinct shards (random nonces).
	if IDOf(SealChunk(&key, f, 1, plain)) == IDOf(SealChunk(&key, f, 1, plain)) {
		t.Fatal("two seals of one chunk share a shard ID")
	}
	if FileKey(root, f) != key {
		t.Fatal("file key not deterministic")
	}
}

func sampleManifest(size int64) *Manifest {
	m := &Manifest{FileID: NewFileID(), Size: size, ChunkSize: DefaultChunkSize, Created: 1}
	for off := int64(0); off < size; off += DefaultChunkSize {
		n := min(size-off, DefaultChunkSize)
		var id ID
		rand.Read(id[:])
		m.Shards = append(m.Shards, ShardRef{ID: id, Size: uint32(n + Overhead)})
	}
	return m
}

func TestManifest(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	root := testRoot(t)
	m := sampleManifest(3*DefaultChunkSize + 5)
	h := NewWholeHash()
	h.Write([]byte("the plaintext"))
	m.SetWhole(h.Sum(nil))
	raw, err := m.Seal(priv, root)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := VerifyManifest(raw)
	if err != nil || !owner.Equal(pub) {
		t.Fatalf("verify: %v", err)
	}
	got, err := OpenManifest(raw, pub, root)
	if err != nil {
		t.Fatal(err)
	}
	if got.FileID != m.FileID || got.Size != m.Size || len(got.Shards) != 4 || got.Shards[3] != m.Shards[3] || !got.Owner.Equal(pub) ||
		got.WholeSum() != m.BLAKE3 || got.SHA256 != ([32]byte{}) {
		t.Fatalf("round trip: %+v", got)
	}
	for _, id := range []ID{m.Shards[0].ID} {
		if bytes.Contains(raw, id[:]) {
			t.Fatal("shard IDs visible in a sealed manifest")
		}
	}
	if _, err := OpenManifest(raw, pub, testRoot(t)); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong root: %v", err)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if _, err := OpenManifest(raw, other, root); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("wrong owner: %v", err)
	}
	var s sealedManifest
	if err := wire.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	s.Body[len(s.Body)-1] ^= 1
	bad, _ := wire.Marshal(s)
	if _, err := VerifyManifest(bad); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered manifest: %v", err)
	}
	if _, err := VerifyManifest([]byte{0xa1}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: %v", err)
	}
	// Inconsistent manifests are refused at seal time.
	m.Shards = m.Shards[:2]
	if _, err := m.Seal(priv, root); !errors.Is(err, ErrMalformed) {
		t.Fatalf("inconsistent manifest sealed: %v", err)
	}
	empty := sampleManifest(0)
	if _, err := empty.Seal(priv, root); err != nil {
		t.Fatalf("empty file: %v", err)
	}
}

func members(n int) []Member {
	out := make([]Member, n)
	for i := range out {
		pub, _, _ := ed25519.GenerateKey(nil)
		out[i] = Member{Key: pub, Addr: fmt.Sprintf("127.0.0.1:%d", 1000+i)}
	}
	return out
}

func TestPlacement(t *testing.T) {
	ms := members(20)
	var id ID
	rand.Read(id[:])
	h := Holders(id, ms, 3)
	if len(h) != 3 {
		t.Fatal(len(h))
	}
	// Order of the view does not matter; duplicates count once.
	rev := append([]Member{ms[5]}, ms...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	h2 := Holders(id, rev, 3)
	for i := range h {
		if !h[i].Key.Equal(h2[i].Key) {
			t.Fatal("placement depends on view order")
		}
	}
	if !IsHolder(id, ms, 3, h[1].Key) {
		t.Fatal("holder not recognised")
	}
	// Removing a non-holder changes nothing; removing a holder promotes the
	// next candidate only.
	rank := Rank(id, ms)
	var without []Member
	for _, m := range ms {
		if !m.Key.Equal(rank[1].Key) {
			without = append(without, m)
		}
	}
	h3 := Holders(id, without, 3)
	if !h3[0].Key.Equal(rank[0].Key) || !h3[1].Key.Equal(rank[2].Key) || !h3[2].Key.Equal(rank[3].Key) {
		t.Fatal("removing a holder moved more than one slot")
	}
	// Load spreads: over many shards every node gets a fair share.
	counts := map[string]int{}
	for range 3000 {
		rand.Read(id[:])
		for _, m := range Holders(id, ms, 3) {
			counts[m.Addr]++
		}
	}
	for a, c := range counts {
		if c < 300 || c > 600 { // expectation 450
			t.Errorf("node %s holds %d of 9000 placements", a, c)
		}
	}
	if len(Holders(id, ms[:2], 3)) != 2 || len(Holders(id, nil, 3)) != 0 {
		t.Fatal("small views")
	}
}

func TestProof(t *testing.T) {
	data := make([]byte, 1000)
	rand.Read(data)
	id := IDOf(data)
	c := NewChallenge()
	p := Prove(c, id, data)
	if Prove(c, id, data) != p {
		t.Fatal("not deterministic")
	}
	if Prove(NewChallenge(), id, data) == p {
		t.Fatal("challenge ignored")
	}
	data[999] ^= 1
	if Prove(c, id, data) == p {
		t.Fatal("flipped bit not caught")
	}
}

func TestAuth(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	var id ID
	rand.Read(id[:])
	g, err := SignStore(priv, "net", id, 1234, 99)
	if err != nil {
		t.Fatal(err)
	}
	a, err := VerifyAuth(g.Raw(), "net")
	if err != nil || a.Kind != AuthStore || a.ID != id || a.Size != 1234 || a.Time != 99 {
		t.Fatalf("%+v %v", a, err)
	}
	if _, err := VerifyAuth(g.Raw(), "other"); !errors.Is(err, ErrWrongNetwork) {
		t.Fatalf("network: %v", err)
	}
	d1, _ := SignDelete(priv, "net", id, 100)
	d2, _ := SignDelete(priv, "net", id, 100)
	if d1.Nonce == d2.Nonce {
		t.Fatal("delete nonces repeat")
	}
	// A signature by another key over the same body is forged.
	_, mallory, _ := ed25519.GenerateKey(nil)
	var s signedAuth
	wire.Unmarshal(g.Raw(), &s)
	s.Sig = ed25519.Sign(mallory, append([]byte(authDomain), s.Body...))
	forged, _ := wire.Marshal(s)
	if _, err := VerifyAuth(forged, "net"); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged: %v", err)
	}
}
