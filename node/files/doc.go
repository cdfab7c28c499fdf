// Package files is each person's file tree on the network: a signed,
// versioned head record per account (sequence number, the sealed manifest
// of the encrypted root directory, the hash of the previous head) kept by
// the files cell on k nodes chosen by rendezvous hashing, and directories
// stored as encrypted shard files, so the whole tree can be rebuilt on any
// machine from the phrase alone.
//
// A holder accepts a new head from its owner only as the exact successor
// of the one it keeps (compare and swap); a conduit whose update lost a
// race is told "conflict", re-reads the tree, re-applies its change and
// retries, so two conduits never lose an update silently.
package files
