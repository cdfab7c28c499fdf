package conduit

import (
	"hash/fnv"
	"sort"
	"strconv"

	"github.com/borgios/borgios/conduit/netclient"
	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/web"
)

// Geometry of the tree picture, in SVG user units.
const (
	treeXStep  = 64
	treeYStep  = 96
	treeMargin = 40
	treeRadius = 16
)

// layoutNode is one node of the picture while it is laid out.
type layoutNode struct {
	info        cell.TreeInfo
	unreachable bool
	children    []*layoutNode
	x, y, depth int
}

// treeView lays the crawled tree out top-down: leaves side by side in
// depth-first order, each parent centred over its children, so subtrees
// never cross. Nodes whose parent did not answer start trees of their own
// beside the main one; children a parent names that did not answer are
// drawn as unreachable leaves.
func treeView(tr netclient.Tree, built bool, st netclient.Status) web.TreeView {
	v := web.TreeView{Cell: tr.Cell, Pending: !built, Truncated: tr.Truncated}
	if !built {
		return v
	}
	mine, inUse := map[string]bool{}, map[string]bool{}
	for _, e := range st.Endpoints {
		if !e.Down {
			mine[e.Key] = true
		}
		if len(e.InUse) > 0 {
			inUse[e.Key] = true
		}
	}
	nodes := map[string]*layoutNode{}
	for _, ti := range tr.Nodes {
		nodes[ti.Node.Key] = &layoutNode{info: ti}
	}
	var roots []*layoutNode
	for _, ti := range tr.Nodes {
		n := nodes[ti.Node.Key]
		if p, ok := nodes[ti.Parent.Key]; ok && ti.Parent.Key != ti.Node.Key {
			p.children = append(p.children, n)
		} else {
			roots = append(roots, n)
		}
	}
	// Children a parent names that never answered.
	for _, ti := range tr.Nodes {
		for _, c := range ti.Children {
			if _, ok := nodes[c.Key]; !ok {
				u := &layoutNode{info: cell.TreeInfo{Node: c, Parent: ti.Node}, unreachable: true}
				nodes[c.Key] = u
				nodes[ti.Node.Key].children = append(nodes[ti.Node.Key].children, u)
			}
		}
	}
	for _, n := range nodes {
		sort.SliceStable(n.children, func(i, j int) bool {
			a, b := n.children[i].info, n.children[j].info
			if a.Position != b.Position {
				return a.Position < b.Position
			}
			return a.Node.Key < b.Node.Key
		})
	}
	sort.SliceStable(roots, func(i, j int) bool {
		// The real root (position 1) first, then the largest fragments.
		a, b := roots[i], roots[j]
		if (a.info.Position == 1) != (b.info.Position == 1) {
			return a.info.Position == 1
		}
		return a.info.Node.Key < b.info.Node.Key
	})
	next, maxDepth := 0, 0
	var place func(n *layoutNode, depth int)
	placed := map[*layoutNode]bool{}
	place = func(n *layoutNode, depth int) {
		placed[n] = true
		n.depth = depth
		maxDepth = max(maxDepth, depth)
		n.y = treeMargin + depth*treeYStep
		var kids []*layoutNode
		for _, c := range n.children {
			if !placed[c] { // a loop in the answers must not hang the page
				kids = append(kids, c)
			}
		}
		n.children = kids
		if len(kids) == 0 {
			n.x = treeMargin + next*treeXStep
			next++
			return
		}
		for _, c := range kids {
			place(c, depth+1)
		}
		n.x = (kids[0].x + kids[len(kids)-1].x) / 2
	}
	for _, r := range roots {
		if !placed[r] {
			place(r, 0)
		}
	}
	v.Width = max(2*treeMargin+(max(next, 1)-1)*treeXStep, 240)
	v.Height = 2*treeMargin + maxDepth*treeYStep + 24
	var walk func(n *layoutNode, parent *layoutNode)
	walk = func(n *layoutNode, parent *layoutNode) {
		k := n.info.Node.Key
		tn := web.TreeNode{
			Key: k, Short: shortHex(k), Addr: n.info.Node.Addr, X: n.x, Y: n.y, Depth: n.depth,
			Root: parent == nil && n.info.Position == 1, Mine: mine[k], InUse: inUse[k],
			Unreachable: n.unreachable, Children: len(n.children),
		}
		if parent != nil {
			tn.Parent = shortHex(parent.info.Node.Key)
			v.Edges = append(v.Edges, web.TreeEdge{X1: parent.x, Y1: parent.y + treeRadius, X2: n.x, Y2: n.y - treeRadius,
				Mine: mine[k] && mine[parent.info.Node.Key]})
		}
		v.Nodes = append(v.Nodes, tn)
		if tn.Mine {
			v.MineCount++
		}
		for _, c := range n.children {
			walk(c, n)
		}
	}
	for _, r := range roots {
		walk(r, nil)
	}
	for _, n := range v.Nodes {
		if n.Unreachable {
			v.Unreachable++
		}
	}
	v.Answered = len(tr.Nodes)
	v.Depth = maxDepth
	return v
}

// treeVersion fingerprints what the picture shows, so the page script
// redraws only when something changed.
func treeVersion(tr netclient.Tree, st netclient.Status) string {
	h := fnv.New64a()
	for _, n := range tr.Nodes {
		h.Write([]byte(n.Node.Key))
		h.Write([]byte(n.Parent.Key))
		for _, c := range n.Children {
			h.Write([]byte(c.Key))
		}
		h.Write([]byte{0})
	}
	for _, e := range st.Endpoints {
		h.Write([]byte(e.Key))
		if !e.Down {
			h.Write([]byte{1})
		}
		if len(e.InUse) > 0 {
			h.Write([]byte{2})
		}
	}
	return strconv.FormatUint(h.Sum64(), 36)
}
