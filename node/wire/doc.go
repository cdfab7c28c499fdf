// Package wire is the signed envelope that carries every message between
// BorgIOS machines, the single Verifier that admits envelopes from the
// network (size, structure, network ID, time window, signature, payload
// digest, replay), and the deterministic CBOR encoding used for payloads.
// It is pure: no I/O, no goroutines; the only clock is Config.Now.
//
// # Envelope layout, version 1
//
// All integers are big-endian; names are printable ASCII (0x21-0x7e).
// N, C and K are the lengths of network, cell and kind; L the payload
// length. H = 132+N+C+K is the header length.
//
//	offset        size  field
//	0             4     magic "BORG" (0x42 0x4f 0x52 0x47)
//	4             1     version = 0x01
//	5             1     N, network ID length, 1..32
//	6             N     network ID
//	6+N           1     C, cell length, 0..32
//	7+N           C     cell
//	7+N+C         1     K, kind length, 1..32
//	8+N+C         K     kind
//	8+N+C+K       32    sender Ed25519 public key
//	40+N+C+K      8     time, network time in Unix ms, int64 two's complement
//	48+N+C+K      16    nonce, random per envelope
//	64+N+C+K      32    ref, ID of the request answered, all zero otherwise
//	96+N+C+K      4     L, payload length, uint32
//	100+N+C+K     32    SHA-256(payload)
//	H             L     payload (deterministic CBOR by convention)
//	H+L           64    Ed25519 signature
//
// The total length is exactly H+L+64; trailing bytes are malformed.
//
// Signature = Ed25519(sender key, SHA-512("borgios/envelope/v1\x00" ||
// bytes[0:H])). The header includes the payload digest, so the signature
// covers the payload without the signed input growing with it. The bytes
// signed are the bytes sent: nothing is re-serialised before verifying.
//
// ID = SHA-256("borgios/envelope-id/v1\x00" || bytes[0:H]); it is used for
// deduplication and as Ref in answers (see Reply and Envelope.Answers).
//
// A new layout gets a new version byte and a new signing domain; a verifier
// refuses versions it does not know (ErrUnknownVersion) rather than guess.
//
// # Broadcasts
//
// An envelope is forwarded as its exact bytes (Envelope.Bytes), keeping the
// origin's signature end to end. Whatever a forwarder adds (hop count, its
// own identity) travels outside those bytes, for example as the payload of
// the forwarder's own envelope or in transport framing.
//
// # Not checked
//
// Sender keys are not checked for small order. A small-order key has no
// private key behind it, so envelopes "from" it prove nothing about anyone;
// callers authorise senders by comparing keys they know.
package wire
