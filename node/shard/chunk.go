package shard

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// DefaultChunkSize is 256 KiB: a sealed chunk fits one request envelope
// (1 MiB) with room to spare, so shards move over plain receptor requests;
// a 200 MB file is 800 shards, enough to spread over many holders and fetch
// in parallel, and repair moves at most 256 KiB per lost copy. The AEAD
// overhead (40 bytes) is 0.015%.
const DefaultChunkSize = 256 << 10

// MaxChunkSize bounds the chunk size a manifest may name, so a sealed
// chunk always fits in one request under the envelope limit.
const MaxChunkSize = 768 << 10

// MaxShardSize is the largest stored shard: a full chunk plus AEAD overhead.
const MaxShardSize = MaxChunkSize + Overhead

// NonceSize is the length of the random nonce in front of a sealed chunk.
const NonceSize = chacha20poly1305.NonceSizeX

// Overhead is what sealing adds to a chunk: the random nonce in front and
// the Poly1305 tag behind.
const Overhead = chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

// ID names a shard: SHA-256 of its stored (sealed) bytes.
type ID [32]byte

// IDOf is the shard ID of stored bytes.
func IDOf(stored []byte) ID { return sha256.Sum256(stored) }

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short is the first 8 hex digits, for logs.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// ParseID parses a 64-digit hex shard ID.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%w: shard ID %q", ErrMalformed, s)
	}
	copy(id[:], b)
	return id, nil
}

func idFrom(b []byte) (ID, error) {
	var id ID
	if len(b) != len(id) {
		return id, fmt.Errorf("%w: shard ID of %d bytes", ErrMalformed, len(b))
	}
	copy(id[:], b)
	return id, nil
}

// FileID is a file's random 32-byte identity: the HKDF salt of its key and
// part of every chunk's associated data. A fresh one per upload means no
// two uploads ever share a key, even of the same content.
type FileID [32]byte

// NewFileID draws a random FileID.
func NewFileID() FileID {
	var f FileID
	rand.Read(f[:]) // never fails (crypto/rand)
	return f
}

const (
	fileKeyInfo     = "borgios/shard/file-key/v1"
	manifestKeyInfo = "borgios/shard/manifest-key/v1"
	chunkADPrefix   = "borgios/shard/chunk/v1"
)

// FileKey derives a file's 32-byte key: HKDF-SHA256 with the phrase's
// file-key root as input key material and the FileID as salt.
func FileKey(fileRoot *[32]byte, file FileID) [32]byte {
	k, err := hkdf.Key(sha256.New, fileRoot[:], file[:], fileKeyInfo, 32)
	if err != nil {
		panic("shard: hkdf: " + err.Error()) // only for lengths beyond 255*32
	}
	return [32]byte(k)
}

// chunkAD binds a sealed chunk to its file and position: a chunk swapped
// between positions or files fails to open.
func chunkAD(file FileID, index uint64) []byte {
	ad := make([]byte, 0, len(chunkADPrefix)+32+8)
	ad = append(ad, chunkADPrefix...)
	ad = append(ad, file[:]...)
	return binary.BigEndian.AppendUint64(ad, index)
}

// SealChunk encrypts chunk index of a file under the file key: a random
// 24-byte nonce, then XChaCha20-Poly1305 ciphertext and tag, with the
// FileID and index as associated data. XChaCha20-Poly1305 rather than
// AES-GCM: it is fast in pure Go on every target (the Raspberry Pi 4 has no
// AES instructions, where GCM is slow and not constant-time), and its
// 192-bit nonce makes random nonces safe without counters.
func SealChunk(key *[32]byte, file FileID, index uint64, plain []byte) []byte {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic("shard: " + err.Error()) // key is 32 bytes by type
	}
	out := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plain)+chacha20poly1305.Overhead)
	rand.Read(out)
	return aead.Seal(out, out, plain, chunkAD(file, index))
}

// OpenChunk decrypts a sealed chunk at its position, appending to dst.
func OpenChunk(dst []byte, key *[32]byte, file FileID, index uint64, sealed []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: chunk %d of %d bytes", ErrDecrypt, index, len(sealed))
	}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic("shard: " + err.Error())
	}
	n := chacha20poly1305.NonceSizeX
	out, err := aead.Open(dst, sealed[:n], sealed[n:], chunkAD(file, index))
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %d", ErrDecrypt, index)
	}
	return out, nil
}
