package shard

import (
	"crypto/rand"
	"crypto/sha256"
)

// Challenge is a storage-proof challenge: 32 random bytes.
type Challenge [32]byte

// NewChallenge draws a random challenge.
func NewChallenge() Challenge {
	var c Challenge
	rand.Read(c[:])
	return c
}

const proofDomain = "borgios/shard/proof/v1"

// Prove is the answer to a storage challenge: SHA-256(domain || challenge
// || shard ID || shard bytes). A node can only compute it with all the
// bytes at hand, since the challenge is fresh and unpredictable (a node
// that kept only answers to past challenges, or only the hash, cannot).
//
// The verifier must know the shard bytes too: in the scrub it is a
// co-holder that has just checked its own copy against the shard ID. A
// full-shard hash rather than a Merkle proof because shards are small
// (256 KiB): reading one costs less than a Merkle tree's bookkeeping, the
// answer is 32 bytes either way, and every byte is covered, so a single
// flipped bit anywhere is caught. An owner who keeps no bytes could
// precompute a table of (challenge, answer) pairs at upload with the same
// function.
func Prove(c Challenge, id ID, data []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(proofDomain))
	h.Write(c[:])
	h.Write(id[:])
	h.Write(data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}
