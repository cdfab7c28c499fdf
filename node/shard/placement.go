package shard

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// DefaultK is the number of holders of each shard.
const DefaultK = 3

// Member is a node serving the shard cell, as the membership view lists it.
type Member struct {
	Key  ed25519.PublicKey
	Addr string
}

const hrwDomain = "borgios/shard/hrw/v1"

// score is the rendezvous weight of a node for a shard: the first 8 bytes
// of SHA-256(domain || shard ID || node key). Keys are chosen by nodes, but
// the weight also depends on the shard ID, which the owner's encryption
// makes unpredictable, so no node can aim at particular shards.
func score(id ID, key ed25519.PublicKey) uint64 {
	h := sha256.New()
	h.Write([]byte(hrwDomain))
	h.Write(id[:])
	h.Write(key)
	var sum [32]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

// Rank orders members by rendezvous (highest random weight) hashing for a
// shard: its holders are the first k. Every node and client with the same
// view computes the same order, and a change of view moves only the shards
// whose top k contain the node that came or went. Members with malformed
// keys are dropped, duplicate keys kept once.
func Rank(id ID, members []Member) []Member {
	type ranked struct {
		m Member
		s uint64
	}
	rs := make([]ranked, 0, len(members))
	for _, m := range members {
		if len(m.Key) != ed25519.PublicKeySize {
			continue
		}
		rs = append(rs, ranked{m, score(id, m.Key)})
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		if a.s != b.s {
			if a.s > b.s {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.m.Key, b.m.Key)
	})
	out := make([]Member, 0, len(rs))
	for i, r := range rs {
		if i > 0 && r.m.Key.Equal(rs[i-1].m.Key) {
			continue
		}
		out = append(out, r.m)
	}
	return out
}

// Holders returns the k legitimate holders of a shard in a view.
func Holders(id ID, members []Member, k int) []Member {
	r := Rank(id, members)
	return r[:min(k, len(r))]
}

// IsHolder reports whether node is one of the k holders of id in the view:
// the check anyone can make of a node claiming to store a shard.
func IsHolder(id ID, members []Member, k int, node ed25519.PublicKey) bool {
	return slices.ContainsFunc(Holders(id, members, k), func(m Member) bool { return m.Key.Equal(node) })
}
