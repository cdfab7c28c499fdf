package files

import (
	"container/heap"
	"slices"
)

// The heads of one account form a DAG: every head names the heads it
// extends. These walks are pure: heads come from a lookup (a holder's
// database, a client's cache filled from holders), and they always run
// from higher to lower seq, which parents strictly decrease, so a walk
// never revisits a head and stops as soon as the answer is known.

// maxWalk bounds the heads one walk visits. Past it, an ancestry question
// is answered "unknown" (treated as concurrent), which errs on the side of
// keeping both heads: nothing is lost, at worst a merge is two-way.
const maxWalk = 4 * MaxHistory

// reachable reports whether target is one of from or an ancestor of one of
// them, as far as get knows the DAG. It only walks heads above target's
// seq.
func reachable(target *SignedHead, from []*SignedHead, get func(HeadHash) *SignedHead) bool {
	seen := map[HeadHash]bool{}
	stack := make([]*SignedHead, 0, len(from))
	for _, h := range from {
		if h.hash == target.hash {
			return true
		}
		if h.Seq > target.Seq && !seen[h.hash] {
			seen[h.hash] = true
			stack = append(stack, h)
		}
	}
	for len(stack) > 0 && len(seen) < maxWalk {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range h.parents {
			if p == target.hash {
				return true
			}
			if seen[p] {
				continue
			}
			seen[p] = true
			if ph := get(p); ph != nil && ph.Seq < h.Seq && ph.Seq > target.Seq {
				stack = append(stack, ph)
			}
		}
	}
	return false
}

// headQueue pops the highest seq first (ties by hash, so walks are
// deterministic).
type headQueue []*SignedHead

func (q headQueue) Len() int { return len(q) }
func (q headQueue) Less(i, j int) bool {
	if q[i].Seq != q[j].Seq {
		return q[i].Seq > q[j].Seq
	}
	return hashLess(q[i].hash, q[j].hash) < 0
}
func (q headQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *headQueue) Push(x any)   { *q = append(*q, x.(*SignedHead)) }
func (q *headQueue) Pop() any {
	old := *q
	h := old[len(old)-1]
	*q = old[:len(old)-1]
	return h
}

// resolveTips reduces a set of tips (heads gathered from several holders)
// to the live ones, those that are no other's ancestor, and finds the base
// of a merge: the common ancestor of every live tip with the highest seq,
// nil when none is known (independent first heads, or history beyond
// reach). fetch returns whichever of the asked heads it can find.
//
// It walks all tips at once from the top, each head carrying the set of
// tips it is reachable from: a tip reached from another is an ancestor,
// and the first head reached from every live tip is the base. Since
// parents have lower seqs, a head's set is complete when it is popped.
func resolveTips(tips []*SignedHead, fetch func([]HeadHash) []*SignedHead) (live []*SignedHead, base *SignedHead) {
	tips = dedupe(tips)
	if len(tips) <= 1 {
		return tips, nil
	}
	if len(tips) > 64 {
		tips = tips[:64] // masks are 64 bits; callers bound tips far below
	}
	known := map[HeadHash]*SignedHead{}
	mask := map[HeadHash]uint64{}
	index := map[HeadHash]int{}
	queued := map[HeadHash]bool{}
	var q headQueue
	for i, t := range tips {
		known[t.hash], mask[t.hash], index[t.hash], queued[t.hash] = t, 1<<i, i, true
		heap.Push(&q, t)
	}
	all := uint64(1)<<len(tips) - 1
	var dropped uint64
	left := len(tips)
	var popped []*SignedHead
	findBase := func(cands []*SignedHead) *SignedHead {
		want := all &^ dropped
		for _, h := range cands {
			if _, tip := index[h.hash]; !tip && mask[h.hash]&want == want {
				return h
			}
		}
		return nil
	}
	for q.Len() > 0 && len(popped) < maxWalk {
		h := heap.Pop(&q).(*SignedHead)
		popped = append(popped, h)
		m := mask[h.hash]
		if i, tip := index[h.hash]; tip {
			if m&^(1<<i) != 0 {
				dropped |= 1 << i
			}
			left--
			if left == 0 {
				if base = findBase(popped); base != nil || bitsSet(all&^dropped) == 1 {
					break
				}
			}
		} else if left == 0 {
			if base = findBase([]*SignedHead{h}); base != nil {
				break
			}
		}
		var missing []HeadHash
		for _, p := range h.parents {
			if known[p] == nil {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			for _, f := range fetch(missing) {
				if slices.Contains(missing, f.hash) {
					known[f.hash] = f
				}
			}
		}
		for _, p := range h.parents {
			ph := known[p]
			if ph == nil || ph.Seq >= h.Seq {
				continue
			}
			mask[p] |= m
			if !queued[p] {
				queued[p] = true
				heap.Push(&q, ph)
			}
		}
	}
	for i, t := range tips {
		if dropped&(1<<i) == 0 {
			live = append(live, t)
		}
	}
	if len(live) <= 1 {
		base = nil
	}
	return live, base
}

func bitsSet(x uint64) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// dedupe drops repeated heads and orders the rest by seq, highest first,
// then hash.
func dedupe(hs []*SignedHead) []*SignedHead {
	seen := map[HeadHash]bool{}
	var out []*SignedHead
	for _, h := range hs {
		if h != nil && !seen[h.hash] {
			seen[h.hash] = true
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b *SignedHead) int {
		if a.Seq != b.Seq {
			if a.Seq > b.Seq {
				return -1
			}
			return 1
		}
		return hashLess(a.hash, b.hash)
	})
	return out
}

// chainTo lists the heads a holder that keeps have may lack to link head
// to them: the ancestors of head (head excluded) above the lowest seq in
// have, stopping at heads in have, oldest first, at most max heads and
// maxBytes bytes (the newest are kept when it must cut).
func chainTo(head *SignedHead, have []*SignedHead, get func(HeadHash) *SignedHead, max, maxBytes int) []*SignedHead {
	stop := map[HeadHash]bool{}
	floor := uint64(0)
	for i, h := range have {
		stop[h.hash] = true
		if i == 0 || h.Seq < floor {
			floor = h.Seq
		}
	}
	var out []*SignedHead
	seen := map[HeadHash]bool{head.hash: true}
	q := headQueue{head}
	size := 0
	for q.Len() > 0 && len(out) < max {
		h := heap.Pop(&q).(*SignedHead)
		if h != head {
			if size+len(h.raw) > maxBytes {
				break
			}
			size += len(h.raw)
			out = append(out, h)
		}
		for _, p := range h.parents {
			if seen[p] || stop[p] {
				continue
			}
			seen[p] = true
			if ph := get(p); ph != nil && ph.Seq < h.Seq && ph.Seq > floor {
				heap.Push(&q, ph)
			}
		}
	}
	slices.Reverse(out)
	return out
}
