package ledger

import (
	"bytes"
	"sync"
)

// A witness signs one Merkle root per batch of votes instead of one
// signature per block: the batch's block hashes are the leaves, and every
// vote carries the path from its block to the root. A vote for a block
// alone has an empty path and its root is the block hash itself, so the
// signed message is then exactly the one-block vote digest.
//
// Interior nodes hash the two children in sorted order under their own
// domain label, so a path needs no left/right bits and an interior node can
// never be taken for a block hash (that would take a SHA-256 collision
// across two domains).

const (
	voteTreeDomain = "borgios/ledger/vote-tree/v1\x00"
	// MaxVotePath bounds a vote's inclusion path: batches of up to 2^16
	// votes, far beyond what one group commit gathers.
	MaxVotePath = 16
)

func treeNode(a, b Hash) Hash {
	if bytes.Compare(a[:], b[:]) > 0 {
		a, b = b, a
	}
	return hashWith(voteTreeDomain, a[:], b[:])
}

// VoteRoot is the root a vote's signature covers: leaf folded with path.
func VoteRoot(leaf Hash, path []Hash) Hash {
	h := leaf
	for _, p := range path {
		h = treeNode(h, p)
	}
	return h
}

// buildVoteTree returns the root over leaves and each leaf's path. An odd
// node at the end of a level moves up unchanged (its path gets no entry
// for that level).
func buildVoteTree(leaves []Hash) (Hash, [][]Hash) {
	paths := make([][]Hash, len(leaves))
	if len(leaves) == 0 {
		return Hash{}, paths
	}
	// pos[i] is the index of leaf i's ancestor in the current level.
	pos := make([]int, len(leaves))
	for i := range pos {
		pos[i] = i
	}
	level := append([]Hash(nil), leaves...)
	for len(level) > 1 {
		for i, p := range pos {
			if sib := p ^ 1; sib < len(level) {
				paths[i] = append(paths[i], level[sib])
			}
			pos[i] = p / 2
		}
		next := make([]Hash, (len(level)+1)/2)
		for j := range next {
			if 2*j+1 < len(level) {
				next[j] = treeNode(level[2*j], level[2*j+1])
			} else {
				next[j] = level[2*j]
			}
		}
		level = next
	}
	return level[0], paths
}

// sigCache remembers witness signatures that verified, so a batch root
// signed once is checked once per process, not once per block it covers
// (a certificate's witness signatures cover the same few roots as the
// votes the client already checked, and as every other certificate of
// that batch). It only ever holds triples whose check succeeded, so a hit
// is as good as a verification; it is bounded and simply starts over when
// full.
type sigCache struct {
	mu sync.Mutex
	m  map[sigKey]struct{}
}

type sigKey struct {
	witness uint16
	digest  Hash
	sig     Signature
}

const sigCacheSize = 1 << 14

func newSigCache() *sigCache { return &sigCache{m: make(map[sigKey]struct{})} }

// verifyWitness checks witness w's signature over digest d, through the
// cache. The caller checked that w is a genesis witness.
func (g *Genesis) verifyWitness(w uint16, d Hash, sig *Signature) bool {
	k := sigKey{w, d, *sig}
	c := g.sigs
	c.mu.Lock()
	_, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return true
	}
	if !g.witKeys.verify(AccountID(g.Witnesses[w]), d[:], sig) {
		return false
	}
	c.mu.Lock()
	if len(c.m) >= sigCacheSize {
		clear(c.m)
	}
	c.m[k] = struct{}{}
	c.mu.Unlock()
	return true
}
