package sim

import (
	"fmt"

	"github.com/borgios/borgios/node/peertree"
)

// Report describes the trees formed by the live nodes.
type Report struct {
	Live     int  // live nodes
	Unplaced int  // live nodes not in any tree (joining)
	Trees    int  // distinct trees among placed live nodes
	Size     int  // members of the largest tree
	Depth    int  // depth of the largest tree
	Complete bool // one tree, holding every live node, positions 1..Size, consistent links
	Problems []string
}

func (r Report) String() string {
	s := fmt.Sprintf("live=%d unplaced=%d trees=%d size=%d depth=%d complete=%v", r.Live, r.Unplaced, r.Trees, r.Size, r.Depth, r.Complete)
	if len(r.Problems) > 0 {
		s += fmt.Sprintf(" problems=%q", r.Problems)
	}
	return s
}

const maxProblems = 5

// Check inspects every live core and verifies the largest tree is complete
// and consistent: positions 1..N each held once, every parent and child link
// agreeing with position arithmetic, the root's size equal to N.
func (s *Sim) Check() Report {
	var r Report
	groups := map[peertree.NodeID][]int{}
	var order []peertree.NodeID
	for i, sn := range s.nodes {
		if !sn.alive {
			continue
		}
		r.Live++
		st := sn.core.Status()
		if st != peertree.StatusMember && st != peertree.StatusRoot {
			r.Unplaced++
			continue
		}
		t := sn.core.TreeID()
		if _, ok := groups[t]; !ok {
			order = append(order, t)
		}
		groups[t] = append(groups[t], i)
	}
	r.Trees = len(groups)
	var best []int
	for _, t := range order {
		if len(groups[t]) > len(best) {
			best = groups[t]
		}
	}
	r.Size = len(best)
	problem := func(f string, a ...any) {
		if len(r.Problems) < maxProblems {
			r.Problems = append(r.Problems, fmt.Sprintf(f, a...))
		}
	}
	if len(best) == 0 {
		problem("no tree")
		return r
	}
	n := len(best)
	byPos := make([]int32, n+1)
	for i := range byPos {
		byPos[i] = -1
	}
	ok := true
	for _, i := range best {
		p := s.nodes[i].core.Position()
		if p < 1 || p > n {
			problem("node %d at position %d outside 1..%d", i, p, n)
			ok = false
			continue
		}
		if byPos[p] >= 0 {
			problem("position %d held by nodes %d and %d", p, byPos[p], i)
			ok = false
			continue
		}
		byPos[p] = int32(i)
	}
	if ok {
		root := s.nodes[byPos[1]].core
		if root.Status() != peertree.StatusRoot || root.Size() != n {
			problem("root status %s size %d, tree has %d", root.Status(), root.Size(), n)
			ok = false
		}
		m := root.MaxChildren()
		for p := 1; p <= n && ok; p++ {
			c := s.nodes[byPos[p]].core
			if p > 1 {
				par, _ := c.Parent()
				if want := s.nodes[int(byPos[peertree.ParentPos(p, m)])].id; par.ID != want {
					problem("pos %d: parent %s, want %s", p, par.ID, want)
					ok = false
				}
				if c.Root().ID != root.ID() {
					problem("pos %d: root %s, want %s", p, c.Root().ID, root.ID())
					ok = false
				}
			}
			k := peertree.ChildCount(p, m, n)
			if c.NumChildren() != k {
				problem("pos %d: %d children, want %d", p, c.NumChildren(), k)
				ok = false
				continue
			}
			first := peertree.FirstChildPos(p, m)
			for j := 0; j < k; j++ {
				if want := s.nodes[int(byPos[first+j])].id; c.Child(j).ID != want {
					problem("pos %d: child %d is %s, want %s", p, j, c.Child(j).ID, want)
					ok = false
					break
				}
			}
		}
		r.Depth = peertree.Depth(n, m)
	}
	r.Complete = ok && r.Trees == 1 && r.Unplaced == 0
	return r
}
