package peertree

// Positions are 1-based in breadth-first order of a complete M-ary tree:
// position 1 is the root, the children of p are M(p-1)+2 … M(p-1)+M+1.
// Every node can compute the shape of the whole tree from N and M alone,
// which is why no node needs to store more than its own neighbourhood.

// ParentPos returns the parent position of p, or 0 for the root.
func ParentPos(p, m int) int {
	if p <= 1 {
		return 0
	}
	return (p-2)/m + 1
}

// FirstChildPos returns the position of the first child of p (which may be
// beyond the tree size).
func FirstChildPos(p, m int) int { return m*(p-1) + 2 }

// ChildSlot is the index of p among its parent's children (0-based).
func ChildSlot(p, m int) int { return (p - 2) % m }

// ChildCount returns how many children position p has in a tree of n nodes.
func ChildCount(p, m, n int) int {
	first := FirstChildPos(p, m)
	if first > n {
		return 0
	}
	last := first + m - 1
	if last > n {
		last = n
	}
	return last - first + 1
}

// Depth returns the number of edges between the root and position p.
func Depth(p, m int) int {
	d := 0
	for p > 1 {
		p = ParentPos(p, m)
		d++
	}
	return d
}

// AncestorAtDepth returns the ancestor of p that sits at depth d (d ≤ Depth(p)).
func AncestorAtDepth(p, m, d int) int {
	for Depth(p, m) > d {
		p = ParentPos(p, m)
	}
	return p
}
