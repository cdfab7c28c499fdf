// Package stream moves stored files fast: a Fetcher pulls a file's shards
// from all their holders at once (a window per holder adapted AIMD-style to
// its observed latency and held once pieces only queue, timeouts derived
// from observed round trips, end-game duplicates with the loser
// cancelled), authenticates and decrypts each piece, writes it at its
// offset, checks the whole file's hash (BLAKE3, or SHA-256 in old
// manifests) and keeps a small fsynced bitmap beside the output so an
// interrupted transfer resumes with only the missing pieces.
//
// Pieces move over the shard cell's bulk streams (shard.BulkProtocol):
// one signed, verified opening request per stream, then raw shard bytes
// without a signature per answer, since the reader checks each piece's
// size against the owner-signed manifest before reading it and its AEAD
// tag (file and index bound in) after: only the owner's key makes bytes
// that open, so they are the shard the manifest names by ID. Streams are pooled per holder and reused across
// transfers; each carries one request at a time, so a holder's window is
// the number of its streams in use. A busy holder names another holder,
// which is asked next. Config.OnDelivery reports every piece received
// (the ledger's bandwidth rewards).
//
// A RangeReader serves a stored file as an io.ReadSeeker that fetches just
// the pieces a reader touches plus read-ahead (an LRU of decrypted chunks),
// so http.ServeContent can answer Range requests and a video plays and
// seeks before the file has downloaded. Every size and allocation is
// bounded by the owner-signed manifest, never by what a holder claims.
package stream
