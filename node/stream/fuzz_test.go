package stream

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

// FuzzReadBulkAnswer: a holder's answer never panics the reader, and
// nothing but bytes of exactly the manifest's size is accepted; nothing
// larger than the manifest's size or the note bound is allocated.
func FuzzReadBulkAnswer(f *testing.F) {
	data := make([]byte, 64)
	rand.Read(data)
	f.Add(append(shard.AppendBulkHeader(nil, shard.BulkOK, len(data)), data...))
	f.Add(shard.AppendBulkHeader(nil, shard.BulkOK, 1<<31))
	redirect, _ := wire.Marshal(shard.Redirect{Key: make([]byte, 32), Addr: "127.0.0.1:1"})
	f.Add(append(shard.AppendBulkHeader(nil, shard.BulkBusy, len(redirect)), redirect...))
	f.Add(shard.AppendBulkHeader(nil, shard.BulkBusy, 0))
	f.Add(append(shard.AppendBulkHeader(nil, shard.BulkNotFound, 3), "gone"...))
	f.Add([]byte{})
	ref := shard.ShardRef{ID: shard.IDOf(data), Size: uint32(len(data))}
	f.Fuzz(func(t *testing.T, b []byte) {
		hdr := make([]byte, shard.BulkHeaderSize)
		got, err := readBulkAnswer(bytes.NewReader(b), hdr, ref, make([]byte, 0, len(data)))
		if err == nil && len(got) != int(ref.Size) {
			t.Fatalf("accepted %d bytes for a %d-byte shard", len(got), ref.Size)
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
