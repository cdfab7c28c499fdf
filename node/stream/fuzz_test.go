package stream

import (
	"crypto/rand"
	"testing"

	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

// FuzzDecodeRead: a holder's read answer never panics the reader, and
// nothing but bytes of exactly the manifest's size and hash is accepted.
func FuzzDecodeRead(f *testing.F) {
	data := make([]byte, 64)
	rand.Read(data)
	ok, _ := wire.Marshal(readAnswer{Data: data, Grant: []byte("g")})
	f.Add(ok)
	big, _ := wire.Marshal(readAnswer{Data: make([]byte, 4096)})
	f.Add(big)
	f.Add([]byte{})
	f.Add([]byte{0xa1, 0x01, 0x5a, 0xff, 0xff, 0xff, 0xff}) // claims a 4 GiB byte string
	ref := shard.ShardRef{ID: shard.IDOf(data), Size: uint32(len(data))}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeRead(b, ref)
		if err == nil && (len(got) != int(ref.Size) || shard.IDOf(got) != ref.ID) {
			t.Fatalf("accepted %d bytes that do not match the manifest", len(got))
		}
	})
}

// FuzzDecodeBitmap: a damaged progress file is refused or decodes to a
// bitmap that re-encodes to the same bytes.
func FuzzDecodeBitmap(f *testing.F) {
	m := &shard.Manifest{ChunkSize: 1, Size: 13, Shards: make([]shard.ShardRef, 13)}
	rand.Read(m.FileID[:])
	b := newBitmap(m)
	b.set(0)
	b.set(12)
	f.Add(b.encode())
	f.Add(newBitmap(m).encode())
	f.Add([]byte(progressMagic))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := decodeBitmap(raw, m)
		if err != nil {
			return
		}
		if string(got.encode()) != string(raw) {
			t.Fatal("decoded bitmap re-encodes differently")
		}
	})
}
