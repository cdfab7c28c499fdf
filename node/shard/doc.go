// Package shard is BorgIOS storage: files are cut into chunks and sealed on
// the person's machine (XChaCha20-Poly1305 under a per-file key derived from
// their phrase's file-key root), each sealed chunk is a shard named by the
// SHA-256 of its bytes, and a signed, encrypted manifest lists a file's
// shards. The k holders of a shard are its top k nodes by rendezvous
// (HRW) hashing over the shard cell's membership view (the registry), so
// anyone can check who should hold it and a reader finds it without a
// broadcast; asking every member is only the fallback.
//
// Holders accept a shard only with the owner's signed store grant, check
// its hash when it is stored and in every scrub pass (not on every read:
// readers check each shard against their manifest anyway, by its ID or
// by the AEAD only the owner's key makes, and hashing 256 KiB per read
// would cost more than sending it), keep it crash-safe (blob written
// temp+fsync+rename+dir fsync, then a bbolt index) and charge it to the
// owner's quota. Only the owner's signature over the shard ID and a fresh
// nonce deletes it. Reads count confirmations and re-store missing copies;
// a scrub on every holder verifies its own copies and audits its co-holders
// with storage proofs (SHA-256 over a random challenge and the shard
// bytes), re-replicating to the next HRW candidates what is missing or
// corrupt. The repair bound is stated on Config.ScrubInterval.
//
// Bulk reads (BulkProtocol, see bulk.go) move shard bytes over a plain
// QUIC stream after one signed, verified opening request: content-addressed
// bytes need no signature per answer. A holder at its concurrent-read limit
// (Config.MaxReads) answers "busy" naming another holder. Config.OnAudit
// reports every storage challenge for the ledger's rewards.
package shard
