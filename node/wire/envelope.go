package wire

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
)

// Layout constants of envelope version 1; doc.go draws the same table.
const (
	// Version is the envelope layout version this package writes.
	Version = 1

	// MaxNameLen bounds Network, Cell and Kind. The names are routing labels,
	// not data; a small bound keeps the header small and fixed-cost.
	MaxNameLen = 32

	// NonceSize, RefSize, IDSize and SignatureSize are the sizes of the
	// fixed binary fields.
	NonceSize     = 16
	RefSize       = 32
	IDSize        = 32
	SignatureSize = ed25519.SignatureSize

	// DefaultMaxSize is the envelope size limit used when a Config or a
	// Decode call gives none. A zero limit never means "unlimited".
	DefaultMaxSize = 1 << 20

	// MinSize is the size of the smallest well-formed envelope: one-byte
	// network and kind, empty cell, empty payload.
	MinSize = fixedHeaderSize + 2 + SignatureSize

	// MaxHeaderSize is the size of the largest possible header.
	MaxHeaderSize = fixedHeaderSize + 3*MaxNameLen
)

const (
	magicLen        = 4
	fixedHeaderSize = magicLen + 1 + 3 + ed25519.PublicKeySize + 8 + NonceSize + RefSize + 4 + sha256.Size // 132
	// Domain separation: a signature or ID made for an envelope can never be
	// mistaken for one made over the same bytes in another context (a TLS
	// certificate, a ledger record, a future envelope version).
	signDomain = "borgios/envelope/v1\x00"
	idDomain   = "borgios/envelope-id/v1\x00"
)

var magic = [magicLen]byte{'B', 'O', 'R', 'G'}

// Header is the routing and binding information of an envelope; everything
// in it is covered by the signature.
type Header struct {
	// Network is the network ID; envelopes never cross networks.
	Network string
	// Cell names the cell type the message belongs to; may be empty for
	// messages between nodes that no cell owns.
	Cell string
	// Kind names the message type within the cell.
	Kind string
	// Time is the sender's network time in Unix milliseconds.
	Time int64
	// Nonce makes every envelope unique; Seal fills it randomly when zero.
	Nonce [NonceSize]byte
	// Ref is the ID of the request this envelope answers, zero otherwise.
	Ref [RefSize]byte
}

// IsAnswer reports whether the header refers to a request.
func (h *Header) IsAnswer() bool { return h.Ref != [RefSize]byte{} }

// Envelope is a decoded envelope. Its fields are a read-only view of the
// bytes it was decoded from: changing them does not change Bytes or ID,
// because the signature covers bytes, never a re-serialisation of fields.
type Envelope struct {
	Header
	// Sender is the Ed25519 public key that signed the envelope.
	Sender ed25519.PublicKey
	// Payload aliases the envelope's own copy of the input bytes.
	Payload []byte
	// Sig is the Ed25519 signature over the domain-separated header hash.
	Sig [SignatureSize]byte

	raw    []byte
	hdrLen int
	digest [sha256.Size]byte
}

// Bytes returns the exact bytes of the envelope, as signed and as received.
// The slice is shared with the Envelope and must not be modified; it is not
// copied so that forwarding a broadcast costs no allocation.
func (e *Envelope) Bytes() []byte { return e.raw }

// ID identifies the envelope for deduplication and reply binding:
// SHA-256(idDomain || header). The header commits to the payload through
// its digest and does not include the signature, so the ID names what the
// sender said, independent of how the proof is encoded. An ID means
// something only after Verify: an unverified envelope can claim any header.
func (e *Envelope) ID() [IDSize]byte {
	return sha256.Sum256(domainPrefixed(new(hashInput), idDomain, e.raw[:e.hdrLen]))
}

// PayloadDigest returns the SHA-256 digest of the payload as signed in the
// header (not recomputed), usable as a content address after Verify.
func (e *Envelope) PayloadDigest() [sha256.Size]byte { return e.digest }

// String gives a short description for logs; it never prints the payload.
func (e *Envelope) String() string {
	id := e.ID()
	return fmt.Sprintf("envelope{%s/%s/%s from %s t=%d id=%s payload=%dB}",
		e.Network, e.Cell, e.Kind, shortHex(e.Sender), e.Time, shortHex(id[:]), len(e.Payload))
}

// Answers checks that e is bound to req as its answer: e.Ref must be
// req.ID() and both must share network and cell. It does not check who
// answered; the caller knows which sender it expects.
func (e *Envelope) Answers(req *Envelope) error {
	want := req.ID()
	if e.Ref != want {
		return fmt.Errorf("%w: ref %x, request id %x", ErrNotAnswer, e.Ref[:8], want[:8])
	}
	if e.Network != req.Network || e.Cell != req.Cell {
		return fmt.Errorf("%w: answer in %q/%q, request in %q/%q",
			ErrNotAnswer, e.Network, e.Cell, req.Network, req.Cell)
	}
	return nil
}

// Seal encodes and signs one envelope. A zero h.Nonce is replaced by 16
// random bytes; callers set it themselves only for test vectors.
func Seal(priv ed25519.PrivateKey, h Header, payload []byte) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKey, len(priv), ed25519.PrivateKeySize)
	}
	if err := checkName("network", h.Network, false); err != nil {
		return nil, err
	}
	if err := checkName("cell", h.Cell, true); err != nil {
		return nil, err
	}
	if err := checkName("kind", h.Kind, false); err != nil {
		return nil, err
	}
	if uint64(len(payload)) > math.MaxUint32 {
		return nil, fmt.Errorf("%w: payload of %d bytes exceeds the 32-bit length field", ErrInvalidHeader, len(payload))
	}
	if h.Nonce == [NonceSize]byte{} {
		// crypto/rand.Read never fails on supported platforms (Go >= 1.24).
		_, _ = rand.Read(h.Nonce[:])
	}

	hdrLen := fixedHeaderSize + len(h.Network) + len(h.Cell) + len(h.Kind)
	b := make([]byte, 0, hdrLen+len(payload)+SignatureSize)
	b = append(b, magic[:]...)
	b = append(b, Version)
	b = appendName(b, h.Network)
	b = appendName(b, h.Cell)
	b = appendName(b, h.Kind)
	b = append(b, priv[32:]...) // the public half of a Go Ed25519 private key
	b = binary.BigEndian.AppendUint64(b, uint64(h.Time))
	b = append(b, h.Nonce[:]...)
	b = append(b, h.Ref[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	digest := sha256.Sum256(payload)
	b = append(b, digest[:]...)
	hash := signingHash(b)
	b = append(b, payload...)
	b = append(b, ed25519.Sign(priv, hash[:])...)
	return b, nil
}

// SealEnvelope is Seal returning the decoded envelope, for a requester that
// needs its own request's ID to match answers with Answers.
func SealEnvelope(priv ed25519.PrivateKey, h Header, payload []byte) (*Envelope, error) {
	b, err := Seal(priv, h, payload)
	if err != nil {
		return nil, err
	}
	e, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("wire: sealed envelope does not parse: %w", err)
	}
	return e, nil // b is ours already, no copy needed
}

// Reply seals an answer to req: same network and cell, Ref = req.ID(), time
// now (network time, ms).
func Reply(priv ed25519.PrivateKey, req *Envelope, kind string, payload []byte, now int64) ([]byte, error) {
	return Seal(priv, Header{
		Network: req.Network,
		Cell:    req.Cell,
		Kind:    kind,
		Time:    now,
		Ref:     req.ID(),
	}, payload)
}

// Decode parses an envelope without any check beyond structure: no
// signature, time, network or replay check. Use Verifier.Verify for
// anything received from the network. maxSize <= 0 means DefaultMaxSize.
// The returned Envelope owns a private copy of b, so callers may reuse their
// read buffers and a concurrent writer to b cannot change what was parsed.
func Decode(b []byte, maxSize int) (*Envelope, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if len(b) > maxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrOversize, len(b), maxSize)
	}
	// Scan before copying so garbage costs no copy, then scan the copy
	// again: only the copy's layout can be trusted to match the copy.
	if _, err := scan(b); err != nil {
		return nil, err
	}
	raw := append([]byte(nil), b...)
	l, err := scan(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: input modified during decode", ErrMalformed)
	}
	return l.build(raw), nil
}

// parse decodes b in place: the Envelope aliases b.
func parse(b []byte) (*Envelope, error) {
	l, err := scan(b)
	if err != nil {
		return nil, err
	}
	return l.build(b), nil
}

// layout holds where the variable-length fields of one envelope lie.
type layout struct {
	network, cell, kind [2]int // offset, length
	hdrLen, payloadLen  int
}

// scan validates the structure of b without allocating, so that rejecting
// junk is as cheap as possible.
func scan(b []byte) (layout, error) {
	var l layout
	if len(b) < magicLen+1 {
		return l, fmt.Errorf("%w: %d bytes, too short for magic and version", ErrMalformed, len(b))
	}
	if [magicLen]byte(b[:magicLen]) != magic {
		return l, fmt.Errorf("%w: bad magic %x", ErrMalformed, b[:magicLen])
	}
	if b[magicLen] != Version {
		return l, fmt.Errorf("%w: version %d, this build reads %d", ErrUnknownVersion, b[magicLen], Version)
	}
	if len(b) < MinSize {
		return l, fmt.Errorf("%w: %d bytes, minimum %d", ErrMalformed, len(b), MinSize)
	}
	off := magicLen + 1
	var err error
	if l.network, off, err = scanName(b, off, "network", false); err != nil {
		return l, err
	}
	if l.cell, off, err = scanName(b, off, "cell", true); err != nil {
		return l, err
	}
	if l.kind, off, err = scanName(b, off, "kind", false); err != nil {
		return l, err
	}
	// Names are done; everything after them up to the payload is fixed-size.
	l.hdrLen = off + fixedHeaderSize - (magicLen + 1 + 3)
	if len(b) < l.hdrLen+SignatureSize {
		return l, fmt.Errorf("%w: truncated header", ErrMalformed)
	}
	plen := binary.BigEndian.Uint32(b[l.hdrLen-sha256.Size-4:])
	if uint64(len(b)-l.hdrLen) != uint64(plen)+SignatureSize {
		return l, fmt.Errorf("%w: header declares %d payload bytes, %d bytes follow the header (want payload + %d signature)",
			ErrMalformed, plen, len(b)-l.hdrLen, SignatureSize)
	}
	l.payloadLen = int(plen)
	return l, nil
}

// build makes the Envelope view of b, which scan accepted with layout l.
func (l layout) build(b []byte) *Envelope {
	name := func(f [2]int) string { return string(b[f[0] : f[0]+f[1]]) }
	e := &Envelope{raw: b, hdrLen: l.hdrLen}
	e.Network, e.Cell, e.Kind = name(l.network), name(l.cell), name(l.kind)
	off := l.kind[0] + l.kind[1]
	e.Sender = ed25519.PublicKey(b[off : off+ed25519.PublicKeySize : off+ed25519.PublicKeySize])
	off += ed25519.PublicKeySize
	e.Time = int64(binary.BigEndian.Uint64(b[off:]))
	off += 8
	off += copy(e.Nonce[:], b[off:])
	off += copy(e.Ref[:], b[off:])
	off += 4 // payload length, already in l
	copy(e.digest[:], b[off:])
	end := l.hdrLen + l.payloadLen
	e.Payload = b[l.hdrLen:end:end]
	copy(e.Sig[:], b[end:])
	return e
}

// signingHash is the message actually given to Ed25519. Hashing first with
// a domain prefix keeps the signed input fixed-size and unambiguous.
func signingHash(header []byte) [sha512.Size]byte {
	return sha512.Sum512(domainPrefixed(new(hashInput), signDomain, header))
}

// hashInput fits any domain string of ours followed by the largest header.
type hashInput [32 + MaxHeaderSize]byte

// domainPrefixed joins domain and header in buf; the caller's array keeps
// hashing free of heap allocation.
func domainPrefixed(buf *hashInput, domain string, header []byte) []byte {
	return append(append(buf[:0], domain...), header...)
}

func shortHex(b []byte) string { return hex.EncodeToString(b[:min(len(b), 8)]) }

func appendName(b []byte, s string) []byte {
	b = append(b, byte(len(s)))
	return append(b, s...)
}

// checkName restricts names to printable ASCII without spaces so that one
// name has one byte encoding and logs cannot be forged with control bytes.
func checkName(field, s string, emptyOK bool) error {
	if len(s) > MaxNameLen {
		return fmt.Errorf("%w: %s is %d bytes, max %d", ErrInvalidHeader, field, len(s), MaxNameLen)
	}
	if len(s) == 0 && !emptyOK {
		return fmt.Errorf("%w: %s is empty", ErrInvalidHeader, field)
	}
	if i := badNameByte(s); i >= 0 {
		return fmt.Errorf("%w: %s has byte 0x%02x at %d, want printable ASCII", ErrInvalidHeader, field, s[i], i)
	}
	return nil
}

func scanName(b []byte, off int, field string, emptyOK bool) ([2]int, int, error) {
	if off >= len(b) {
		return [2]int{}, off, fmt.Errorf("%w: truncated before %s", ErrMalformed, field)
	}
	n := int(b[off])
	off++
	if n > MaxNameLen {
		return [2]int{}, off, fmt.Errorf("%w: %s length %d, max %d", ErrMalformed, field, n, MaxNameLen)
	}
	if n == 0 && !emptyOK {
		return [2]int{}, off, fmt.Errorf("%w: empty %s", ErrMalformed, field)
	}
	if len(b)-off < n {
		return [2]int{}, off, fmt.Errorf("%w: truncated %s", ErrMalformed, field)
	}
	if i := badNameByte(b[off : off+n]); i >= 0 {
		return [2]int{}, off, fmt.Errorf("%w: %s has byte 0x%02x at %d", ErrMalformed, field, b[off+i], i)
	}
	return [2]int{off, n}, off + n, nil
}

func badNameByte[T string | []byte](s T) int {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return i
		}
	}
	return -1
}
