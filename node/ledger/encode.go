package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
)

// Every object the ledger signs or hashes has one fixed binary layout:
// big-endian integers, fixed-size keys and hashes, lists prefixed with a
// bounded count, no optional fields and no trailing bytes. Such a layout has
// exactly one encoding per value, so "decode then re-encode" is the
// identity and nobody can make two byte strings that mean the same block.

// Hash is a SHA-256 digest.
type Hash [32]byte

// AccountID is an account's Ed25519 public key: the account is its key,
// so there is no registry to trust.
type AccountID [32]byte

// Signature is an Ed25519 signature.
type Signature [64]byte

func (h Hash) String() string      { return hex.EncodeToString(h[:]) }
func (a AccountID) String() string { return hex.EncodeToString(a[:]) }

// Short is the first 8 hex digits, for logs.
func (a AccountID) Short() string { return hex.EncodeToString(a[:4]) }

// IsZero reports whether h is all zero bytes.
func (h Hash) IsZero() bool { return h == Hash{} }

// ParseAccount parses 64 hex digits.
func ParseAccount(s string) (AccountID, error) {
	var a AccountID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(a) {
		return a, fmt.Errorf("parse account %q: want 64 hex digits: %w", s, ErrMalformed)
	}
	copy(a[:], b)
	return a, nil
}

// hashWith hashes a domain label followed by parts; the label keeps a hash
// made for one purpose from ever equalling one made for another.
func hashWith(domain string, parts ...[]byte) Hash {
	// Small inputs (vote-tree nodes, digests, most blocks) are hashed
	// from one stack buffer: no hasher or buffer on the heap.
	n := len(domain)
	for _, p := range parts {
		n += len(p)
	}
	if n <= 384 {
		var buf [384]byte
		b := append(buf[:0], domain...)
		for _, p := range parts {
			b = append(b, p...)
		}
		return sha256.Sum256(b)
	}
	h := sha256.New()
	h.Write([]byte(domain))
	for _, p := range parts {
		h.Write(p)
	}
	var out Hash
	h.Sum(out[:0])
	return out
}

type writer struct{ b []byte }

// writers recycles encoding buffers for bytes that are hashed and
// dropped (block hashes), so hashing a block allocates nothing.
var writers = sync.Pool{New: func() any { return &writer{b: make([]byte, 0, 512)} }}

func getWriter() *writer {
	w := writers.Get().(*writer)
	w.b = w.b[:0]
	return w
}

func putWriter(w *writer) {
	if cap(w.b) <= 64<<10 {
		writers.Put(w)
	}
}

func (w *writer) u8(v uint8)       { w.b = append(w.b, v) }
func (w *writer) u16(v uint16)     { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32)     { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64)     { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) bytes(p []byte)   { w.b = append(w.b, p...) }
func (w *writer) hash(h Hash)      { w.b = append(w.b, h[:]...) }
func (w *writer) acct(a AccountID) { w.b = append(w.b, a[:]...) }
func (w *writer) sig(s Signature)  { w.b = append(w.b, s[:]...) }
func (w *writer) amount(a Amount)  { w.u64(uint64(a)) }
func (w *writer) str8(s string)    { w.u8(uint8(len(s))); w.b = append(w.b, s...) }

// path writes a vote inclusion path: count u8 | hashes. Callers keep it
// within MaxVotePath.
func (w *writer) path(p []Hash) {
	w.u8(uint8(len(p)))
	for _, h := range p {
		w.hash(h)
	}
}

// reader decodes the layout; the first error sticks so decoders read a
// whole structure and check once.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %w", what, ErrMalformed)
	}
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("short input reading " + what)
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8(what string) uint8 {
	p := r.take(1, what)
	if p == nil {
		return 0
	}
	return p[0]
}

func (r *reader) u16(what string) uint16 {
	p := r.take(2, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint16(p)
}

func (r *reader) u32(what string) uint32 {
	p := r.take(4, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

func (r *reader) u64(what string) uint64 {
	p := r.take(8, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func (r *reader) amount(what string) Amount { return Amount(r.u64(what)) }

func (r *reader) hash(what string) (h Hash) {
	copy(h[:], r.take(32, what))
	return h
}

func (r *reader) acct(what string) (a AccountID) {
	copy(a[:], r.take(32, what))
	return a
}

func (r *reader) sig(what string) (s Signature) {
	copy(s[:], r.take(64, what))
	return s
}

// path reads a vote inclusion path (nil when empty, so decoding and
// encoding again is the identity).
func (r *reader) path(what string) []Hash {
	n := int(r.u8(what))
	if r.err != nil || n == 0 {
		return nil
	}
	if n > MaxVotePath {
		r.fail(what + " too long")
		return nil
	}
	p := make([]Hash, n)
	for i := range p {
		p[i] = r.hash(what)
	}
	return p
}

// done reports the sticky error or trailing bytes: a decoder that accepted
// trailing bytes would give one object many encodings.
func (r *reader) done(what string) error {
	if r.err != nil {
		return fmt.Errorf("decode %s: %w", what, r.err)
	}
	if len(r.b) != 0 {
		return fmt.Errorf("decode %s: %d trailing bytes: %w", what, len(r.b), ErrNonCanonical)
	}
	return nil
}
