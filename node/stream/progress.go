package stream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/borgios/borgios/node/shard"
)

// progressMagic starts a progress file (format version 1).
const progressMagic = "BGSTRM1\n"

// bitmap records which pieces of one file are written and synced.
type bitmap struct {
	file  shard.FileID
	sum   [32]byte // the manifest's plaintext hash: ties the bitmap to one file version
	n     int
	words []byte
}

func newBitmap(m *shard.Manifest) *bitmap {
	return &bitmap{file: m.FileID, sum: m.WholeSum(), n: len(m.Shards), words: make([]byte, (len(m.Shards)+7)/8)}
}

func (b *bitmap) has(i int) bool { return b.words[i/8]&(1<<(i%8)) != 0 }
func (b *bitmap) set(i int)      { b.words[i/8] |= 1 << (i % 8) }

func (b *bitmap) count() int {
	c := 0
	for i := range b.n {
		if b.has(i) {
			c++
		}
	}
	return c
}

// encode: magic, file ID, plaintext hash, piece count (u32), bitmap, CRC-32C
// of everything before it.
func (b *bitmap) encode() []byte {
	out := make([]byte, 0, len(progressMagic)+32+32+4+len(b.words)+4)
	out = append(out, progressMagic...)
	out = append(out, b.file[:]...)
	out = append(out, b.sum[:]...)
	out = binary.BigEndian.AppendUint32(out, uint32(b.n))
	out = append(out, b.words...)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(out, crc32.MakeTable(crc32.Castagnoli)))
}

var errBadProgress = errors.New("stream: bad progress file")

// decodeBitmap parses a progress file for manifest m; a file for another
// file or version, or a damaged one, is an error (the caller starts over).
func decodeBitmap(raw []byte, m *shard.Manifest) (*bitmap, error) {
	b := newBitmap(m)
	want := len(progressMagic) + 32 + 32 + 4 + len(b.words) + 4
	if len(raw) != want || !bytes.HasPrefix(raw, []byte(progressMagic)) {
		return nil, fmt.Errorf("%w: %d bytes, want %d", errBadProgress, len(raw), want)
	}
	body, tail := raw[:len(raw)-4], raw[len(raw)-4:]
	if crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != binary.BigEndian.Uint32(tail) {
		return nil, fmt.Errorf("%w: checksum", errBadProgress)
	}
	p := body[len(progressMagic):]
	if !bytes.Equal(p[:32], m.FileID[:]) || !bytes.Equal(p[32:64], b.sum[:]) || binary.BigEndian.Uint32(p[64:68]) != uint32(len(m.Shards)) {
		return nil, fmt.Errorf("%w: for another file", errBadProgress)
	}
	copy(b.words, p[68:])
	// Bits past the last piece must be clear: a canonical encoding.
	for i := b.n; i < len(b.words)*8; i++ {
		if b.has(i) {
			return nil, fmt.Errorf("%w: bit %d past %d pieces", errBadProgress, i, b.n)
		}
	}
	return b, nil
}

// loadBitmap reads path; a missing or unusable file gives an empty bitmap.
func loadBitmap(path string, m *shard.Manifest) *bitmap {
	raw, err := os.ReadFile(path)
	if err != nil {
		return newBitmap(m)
	}
	b, err := decodeBitmap(raw, m)
	if err != nil {
		return newBitmap(m)
	}
	return b
}

// save writes the bitmap crash-safely: temp file, fsync, rename, directory
// fsync. The caller syncs the output first, so a bit on disk always means
// its piece is on disk.
func (b *bitmap) save(path string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("stream: save progress: %w", err)
	}
	if _, err := f.Write(b.encode()); err != nil {
		f.Close()
		return fmt.Errorf("stream: save progress: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("stream: save progress: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("stream: save progress: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("stream: save progress: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
