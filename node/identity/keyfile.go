package identity

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/text/unicode/norm"
)

// Errors from key files. A wrong passphrase and a damaged file need
// different actions from the person (retype versus restore a backup), so
// they are distinct; see doc.go for how they are told apart.
var (
	// ErrWrongPassphrase: the file is intact but the passphrase does not
	// open it.
	ErrWrongPassphrase = errors.New("wrong key file passphrase")
	// ErrCorruptKeyFile: not a key file, truncated, or damaged.
	ErrCorruptKeyFile = errors.New("key file is corrupt")
	// ErrUnsupportedKeyFile: an intact key file this version cannot read
	// (newer format, or KDF settings beyond our limits).
	ErrUnsupportedKeyFile = errors.New("unsupported key file")
	// ErrEmptyPassphrase: a key file must have a passphrase.
	ErrEmptyPassphrase = errors.New("key file passphrase is empty")
	// ErrKDFParams: KDF settings out of range.
	ErrKDFParams = errors.New("key file KDF settings out of range")
)

// KDFParams are the Argon2id cost settings stored in each key file.
type KDFParams struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // lanes
}

// DefaultKDFParams is RFC 9106's second recommended Argon2id setting
// (t=3, 64 MiB, 4 lanes): about 0.3 s to open a file on a 2-core x86 VM
// (BenchmarkOpenKeyFileDefault), and 64 MiB of memory per guess for an
// attacker.
var DefaultKDFParams = KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4}

// kdfLimits bounds the settings a key file may ask for, so that a hostile
// file cannot make opening it take hours or all memory.
type kdfLimits struct {
	maxTime      uint32
	maxMemoryKiB uint32
}

var defaultKDFLimits = kdfLimits{maxTime: 64, maxMemoryKiB: 2 << 20} // 2 GiB

func (p KDFParams) check(l kdfLimits) error {
	switch {
	case p.Time < 1 || p.Time > l.maxTime:
		return fmt.Errorf("%w: time %d not in 1..%d", ErrKDFParams, p.Time, l.maxTime)
	case p.Threads < 1:
		return fmt.Errorf("%w: threads must be at least 1", ErrKDFParams)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > l.maxMemoryKiB:
		return fmt.Errorf("%w: memory %d KiB not in %d..%d", ErrKDFParams, p.MemoryKiB, 8*uint32(p.Threads), l.maxMemoryKiB)
	}
	return nil
}

// Key file layout, version 1 (integers big-endian):
//
//	magic     8  "BORGKEYF"
//	version   1  1
//	kdf       1  1 = Argon2id
//	time      4
//	memory    4  KiB
//	threads   1
//	salt     16
//	nonce    24  XChaCha20-Poly1305
//	sealed    n  AEAD(payload), header above as additional data
//	checksum 32  SHA-256 of everything before it
//
// payload: kind 1 (one byte) followed by the 64-byte BIP39 seed.
const (
	keyFileMagic    = "BORGKEYF"
	keyFileVersion  = 1
	kdfArgon2id     = 1
	payloadSeed     = 1
	keyFileSaltLen  = 16
	keyFileHeaderLn = 8 + 1 + 1 + 4 + 4 + 1 + keyFileSaltLen + chacha20poly1305.NonceSizeX
	keyFileSumLen   = sha256.Size
	seedLen         = 64
	// maxSealedLen leaves room for future payload kinds while refusing
	// megabytes of junk.
	maxSealedLen = 4096
)

// KeyFileSize is the size of a version 1 key file holding a seed.
const KeyFileSize = keyFileHeaderLn + 1 + seedLen + chacha20poly1305.Overhead + keyFileSumLen

// SealKeyFile encrypts a 64-byte BIP39 seed under passphrase (NFKD
// normalised) and returns the key file bytes. The seed, not the phrase, is
// stored: it rebuilds every key, opens without the 2048 PBKDF2 rounds, and
// does not reveal the BIP39 passphrase, which people reuse.
func SealKeyFile(seed, passphrase []byte, p KDFParams) ([]byte, error) {
	if len(seed) != seedLen {
		return nil, fmt.Errorf("identity: sealing key file: %w (got %d, want %d)", ErrSeedLength, len(seed), seedLen)
	}
	if len(passphrase) == 0 {
		return nil, fmt.Errorf("identity: sealing key file: %w", ErrEmptyPassphrase)
	}
	if err := p.check(defaultKDFLimits); err != nil {
		return nil, fmt.Errorf("identity: sealing key file: %w", err)
	}
	out := make([]byte, keyFileHeaderLn, KeyFileSize)
	copy(out, keyFileMagic)
	out[8] = keyFileVersion
	out[9] = kdfArgon2id
	binary.BigEndian.PutUint32(out[10:], p.Time)
	binary.BigEndian.PutUint32(out[14:], p.MemoryKiB)
	out[18] = p.Threads
	salt := out[19 : 19+keyFileSaltLen]
	nonce := out[19+keyFileSaltLen : keyFileHeaderLn]
	if _, err := rand.Read(out[19:keyFileHeaderLn]); err != nil {
		return nil, fmt.Errorf("identity: sealing key file: randomness: %w", err)
	}
	key := deriveFileKey(passphrase, salt, p)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("identity: sealing key file: %w", err)
	}
	payload := make([]byte, 0, 1+seedLen)
	payload = append(payload, payloadSeed)
	payload = append(payload, seed...)
	header := out[:keyFileHeaderLn]
	out = aead.Seal(out, nonce, payload, header)
	clear(payload)
	sum := sha256.Sum256(out)
	return append(out, sum[:]...), nil
}

// OpenKeyFile checks and decrypts a key file and returns the 64-byte seed.
// Errors are ErrCorruptKeyFile, ErrUnsupportedKeyFile or
// ErrWrongPassphrase (wrapped with detail).
func OpenKeyFile(data, passphrase []byte) ([]byte, error) {
	return openKeyFile(data, passphrase, defaultKDFLimits)
}

// KeysFromKeyFile opens a key file and derives the keys.
func KeysFromKeyFile(data, passphrase []byte) (*Keys, error) {
	seed, err := OpenKeyFile(data, passphrase)
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	return KeysFromSeed(seed)
}

// keyFileHeader is the parsed fixed part of a key file.
type keyFileHeader struct {
	params KDFParams
	salt   []byte
	nonce  []byte
	header []byte // the bytes authenticated as additional data
	sealed []byte
}

// parseKeyFile checks everything that can be checked without the
// passphrase: framing, the outer checksum, version and KDF settings.
func parseKeyFile(data []byte, l kdfLimits) (*keyFileHeader, error) {
	const minLen = keyFileHeaderLn + chacha20poly1305.Overhead + keyFileSumLen
	if len(data) < len(keyFileMagic) || string(data[:len(keyFileMagic)]) != keyFileMagic {
		return nil, fmt.Errorf("identity: %w: not a BorgIOS key file", ErrCorruptKeyFile)
	}
	if len(data) < minLen {
		return nil, fmt.Errorf("identity: %w: truncated (%d bytes, need at least %d)", ErrCorruptKeyFile, len(data), minLen)
	}
	if len(data) > keyFileHeaderLn+maxSealedLen+keyFileSumLen {
		return nil, fmt.Errorf("identity: %w: %d bytes is too long for a key file", ErrCorruptKeyFile, len(data))
	}
	body, sum := data[:len(data)-keyFileSumLen], data[len(data)-keyFileSumLen:]
	want := sha256.Sum256(body)
	if subtle.ConstantTimeCompare(want[:], sum) != 1 {
		return nil, fmt.Errorf("identity: %w: checksum mismatch (damaged or truncated)", ErrCorruptKeyFile)
	}
	if data[8] != keyFileVersion {
		return nil, fmt.Errorf("identity: %w: format version %d (this program reads %d)", ErrUnsupportedKeyFile, data[8], keyFileVersion)
	}
	if data[9] != kdfArgon2id {
		return nil, fmt.Errorf("identity: %w: KDF %d", ErrUnsupportedKeyFile, data[9])
	}
	h := &keyFileHeader{
		params: KDFParams{
			Time:      binary.BigEndian.Uint32(data[10:]),
			MemoryKiB: binary.BigEndian.Uint32(data[14:]),
			Threads:   data[18],
		},
		salt:   data[19 : 19+keyFileSaltLen],
		nonce:  data[19+keyFileSaltLen : keyFileHeaderLn],
		header: data[:keyFileHeaderLn],
		sealed: body[keyFileHeaderLn:],
	}
	if err := h.params.check(l); err != nil {
		return nil, fmt.Errorf("identity: %w: %w", ErrUnsupportedKeyFile, err)
	}
	return h, nil
}

func openKeyFile(data, passphrase []byte, l kdfLimits) ([]byte, error) {
	h, err := parseKeyFile(data, l)
	if err != nil {
		return nil, err
	}
	key := deriveFileKey(passphrase, h.salt, h.params)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("identity: opening key file: %w", err)
	}
	// The checksum passed, so the ciphertext is as written: an
	// authentication failure now means the key, that is the passphrase,
	// is wrong.
	payload, err := aead.Open(nil, h.nonce, h.sealed, h.header)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", ErrWrongPassphrase)
	}
	defer clear(payload)
	if len(payload) == 0 || payload[0] != payloadSeed {
		return nil, fmt.Errorf("identity: %w: unknown payload kind", ErrUnsupportedKeyFile)
	}
	if len(payload) != 1+seedLen {
		return nil, fmt.Errorf("identity: %w: seed payload of %d bytes", ErrCorruptKeyFile, len(payload)-1)
	}
	return bytes.Clone(payload[1:]), nil
}

func deriveFileKey(passphrase, salt []byte, p KDFParams) []byte {
	// NFKD so that the same passphrase typed on systems that compose
	// accents differently (macOS NFD versus NFC elsewhere) opens the file.
	// Append, unlike Bytes, always copies, so clearing pass never wipes
	// the caller's buffer.
	pass := norm.NFKD.Append(make([]byte, 0, len(passphrase)), passphrase...)
	defer clear(pass)
	return argon2.IDKey(pass, salt, p.Time, p.MemoryKiB, p.Threads, chacha20poly1305.KeySize)
}
