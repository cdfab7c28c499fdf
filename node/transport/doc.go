// Package transport is the only code that touches sockets between nodes: one
// UDP port per node carries QUIC connections on which every cell opens a
// stream per request, one-way message or bulk transfer, naming its protocol
// in a small stream header. Connections to peers are pooled and kept alive;
// handlers are registered per protocol name.
//
// # Security model
//
// A node is its Ed25519 key. Each Transport presents a self-signed X.509
// certificate carrying that key (validity 2000..9999, unchecked: identity is
// the key, not the certificate, and a Pi without a clock must still connect).
// TLS 1.3 is mandatory and there is no certificate authority. The dialler
// pins the key it expects: if another key answers at the address the dial
// fails with a *WrongPeerKeyError (errors.Is ErrWrongPeerKey) naming both.
// The listener requires a client certificate, accepts any single self-signed
// Ed25519 one, and hands its verified key to handlers as Peer.Key. Session
// resumption is off, so every connection proves its key afresh.
//
// Pinning gives confidential, integrity-protected links to exactly the node
// the caller meant, and tells a handler which node is talking. It does not
// say whether that node may do what it asks, nor does it protect anything
// beyond one hop. That is the job of node/wire: every message is an envelope
// signed by its origin (a person or a node) independently of TLS, checked
// against network time and a nonce cache, so broadcasts forwarded over
// several hops, requests relayed for a conduit, and a replay after the
// transport's once-only retry all verify end to end. Handlers must verify the
// envelope; Peer.Key is only the last hop.
//
// # Wire format (ALPN "borgios/1")
//
// The opener of a stream writes: version byte 1, a kind byte (1 request,
// 2 one-way message, 3 stream, 4 goaway), the protocol name length (1..64,
// 0 for goaway) and the name ([A-Za-z0-9._/-]). A request or message follows with one frame and FIN; a
// request is answered with a status byte (0 ok, 1 handler error), one frame
// (the response or the error text) and FIN. A frame is a big-endian u32
// length and that many bytes; frames above the limit (Config.MaxFrame,
// default 4 MiB) are refused before any allocation, and buffers grow only as
// bytes arrive. Refusals travel as QUIC stream reset codes: unknown protocol,
// bad header, frame too large, shutting down.
//
// # Connection lifetime
//
// Connections are pooled per (address, key), shared by every cell, kept
// alive by QUIC pings (which also hold NAT mappings open) and reused in both
// directions: a connection a peer dialled to us also carries our requests to
// it. A dead connection is replaced by a new dial. A node that restarts with
// the same key resets its previous run's connections (the stateless reset key
// is derived from the node key), so peers re-dial on their next request
// instead of waiting out the idle timeout; quic-go only answers packets above
// 42 bytes this way, which every signed envelope is. Close sends goaway on
// every connection: peers stop opening streams on it and close it once their
// last answer is read, because QUIC cannot flush pending data and close in
// one step.
package transport
