package peertree

import (
	"encoding/binary"
	"slices"
	"time"
)

const (
	phaseQuery   = 1 // asking contacts which tree they are in
	phaseRequest = 2 // JoinRequest sent to a root, waiting for an Update
)

// maxJoinAttempts is how many rounds of contact queries (or unanswered join
// requests) a joiner tries before founding its own one-node tree.
const maxJoinAttempts = 3

type joinState struct {
	phase    int
	deadline time.Duration
	attempts int
	requests int
	asked    []NodeID
	answered int
	best     RootInfo
	haveBest bool
	target   Member
	oldTree  NodeID
	oldPos   int
	failed   []NodeID // roots that never answered this join
}

// better reports whether tree a should absorb tree b: the larger tree wins,
// ties go to the lower tree ID. Every node evaluates the same rule, so two
// trees always agree on which one joins the other.
func better(aSize int, aTree NodeID, bSize int, bTree NodeID) bool {
	if aSize != bSize {
		return aSize > bSize
	}
	return aTree.Less(bTree)
}

// startJoin forgets all tree state and looks for a tree. With a hint it asks
// that root directly (used by merges and redirects).
func (n *Node) startJoin(hint *RootInfo) {
	js := &joinState{}
	if n.status == StatusMember || n.status == StatusRoot {
		js.oldTree, js.oldPos = n.treeID, n.pos
	}
	n.status = StatusJoining
	n.join = js
	n.treeID = NodeID{}
	n.epoch, n.applied = 0, 0
	n.size, n.pos = 0, 0
	n.root, n.parent = Member{}, Member{}
	n.succ = nil
	n.children = nil
	n.suspects = nil
	n.coord = nil
	n.replica = nil
	n.mergeAsked = nil
	if hint != nil && !hint.Root.IsZero() && hint.Root.ID != n.self.ID {
		n.requestJoin(hint.Root)
		return
	}
	n.queryContacts()
}

func (n *Node) queryContacts() {
	js := n.join
	js.phase = phaseQuery
	js.asked = js.asked[:0]
	js.answered = 0
	js.haveBest = false
	if len(n.contacts) == 0 {
		n.becomeRoot()
		return
	}
	idx := n.rng.Perm(len(n.contacts))
	for _, i := range idx[:min(maxQueried, len(idx))] {
		c := n.contacts[i]
		js.asked = append(js.asked, c.ID)
		n.send(c, &RootQuery{Addr: n.self.Addr})
	}
	js.deadline = n.now + n.h
}

func (n *Node) requestJoin(root Member) {
	js := n.join
	if js.phase != phaseRequest || js.target.ID != root.ID {
		js.requests = 0
	}
	js.phase = phaseRequest
	js.target = root
	js.requests++
	js.deadline = n.now + n.cfg.JoinTimeout
	n.send(root, &JoinRequest{Addr: n.self.Addr, OldTree: js.oldTree, OldPos: js.oldPos})
}

func (n *Node) joinTick() {
	js := n.join
	if n.now < js.deadline {
		return
	}
	switch js.phase {
	case phaseQuery:
		n.decideJoin()
	case phaseRequest:
		if js.requests < 3 {
			n.requestJoin(js.target)
			return
		}
		js.failed = append(js.failed, js.target.ID)
		js.attempts++
		if js.attempts >= maxJoinAttempts {
			n.becomeRoot()
			return
		}
		n.queryContacts()
	}
}

func (n *Node) decideJoin() {
	js := n.join
	if js.haveBest {
		n.requestJoin(js.best.Root)
		return
	}
	js.attempts++
	if js.attempts >= maxJoinAttempts {
		n.becomeRoot()
		return
	}
	n.queryContacts()
}

func (n *Node) onRootInfo(from NodeID, m *RootInfo) {
	if js := n.join; js != nil {
		switch {
		case js.phase == phaseQuery && slices.Contains(js.asked, from):
			js.answered++
			if m.Member && !m.Root.IsZero() && m.Root.ID != n.self.ID && !slices.Contains(js.failed, m.Root.ID) &&
				(!js.haveBest || better(m.Size, m.TreeID, js.best.Size, js.best.TreeID)) {
				js.best, js.haveBest = *m, true
			}
			if js.answered >= len(js.asked) {
				n.decideJoin()
			}
		case js.phase == phaseRequest && from == js.target.ID:
			// The node we asked is not (or no longer) a root: follow its
			// pointer once per attempt, else start over with the contacts.
			if m.Member && !m.Root.IsZero() && m.Root.ID != from && m.Root.ID != n.self.ID && js.attempts < maxJoinAttempts {
				js.attempts++
				n.requestJoin(m.Root)
				return
			}
			js.attempts++
			if js.attempts >= maxJoinAttempts {
				n.becomeRoot()
				return
			}
			n.queryContacts()
		}
		return
	}
	i := slices.Index(n.mergeAsked, from)
	if i < 0 {
		return
	}
	n.mergeAsked = slices.Delete(n.mergeAsked, i, i+1)
	if !m.Member || m.TreeID == n.treeID || m.Root.IsZero() || m.Root.ID == n.self.ID {
		return
	}
	if n.status == StatusRoot {
		// We chose to ask this contact, so its answer vouches for m.Root.
		n.noteForeign(m)
		n.offerMerge(m.Root)
	} else if n.status == StatusMember {
		n.send(n.root, &ForeignTree{Info: *m})
	}
}

// becomeRoot founds a one-node tree; it fully works on its own.
func (n *Node) becomeRoot() {
	n.join = nil
	n.status = StatusRoot
	n.epoch = newTermEpoch(1)
	n.applied = n.epoch
	var salt [8]byte
	binary.BigEndian.PutUint64(salt[:], n.rng.Uint64())
	n.treeID = treeIDFor(n.self.ID, n.epoch^Epoch(binary.BigEndian.Uint64(salt[:])))
	n.size, n.pos = 1, 1
	n.root = n.self
	n.parent = Member{}
	n.children = nil
	n.succ = nil
	n.coord = newCoordinator(n.self)
	n.nextHB = n.now + n.h
	n.event(EventBecameRoot, n.self.ID, "tree %s", n.treeID)
}

func (n *Node) onJoinRequest(from NodeID, m *JoinRequest) {
	joiner := Member{ID: from, Addr: m.Addr}
	if n.status != StatusRoot {
		n.send(joiner, n.rootInfo())
		return
	}
	n.coordJoin(joiner, m)
}

// --- merges ---

// mergeProbe asks one random contact which tree it is in; a different tree
// is reported to the root, which offers a merge.
func (n *Node) mergeProbe() {
	n.nextMerge = n.now + n.cfg.MergeProbe/2 + n.jitter(n.cfg.MergeProbe)
	if len(n.contacts) == 0 {
		return
	}
	c := n.contacts[n.rng.IntN(len(n.contacts))]
	if len(n.mergeAsked) >= 4 {
		n.mergeAsked = n.mergeAsked[1:]
	}
	n.mergeAsked = append(n.mergeAsked, c.ID)
	n.send(c, &RootQuery{Addr: n.self.Addr})
}

func (n *Node) onForeignTree(from NodeID, m *ForeignTree) {
	if n.status != StatusRoot || !m.Info.Member || m.Info.TreeID == n.treeID || m.Info.Root.IsZero() || m.Info.Root.ID == n.self.ID {
		return
	}
	if from == m.Info.Root.ID {
		n.reject(from, "foreign-tree report about itself")
		return
	}
	n.noteForeign(&m.Info)
	n.offerMerge(m.Info.Root)
}

func (n *Node) noteForeign(info *RootInfo) {
	c := n.coord
	for i := range c.foreign {
		if c.foreign[i].root == info.Root.ID {
			c.foreign[i] = foreignTree{root: info.Root.ID, tree: info.TreeID, at: n.now}
			return
		}
	}
	if len(c.foreign) >= maxForeign {
		c.foreign = c.foreign[1:]
	}
	c.foreign = append(c.foreign, foreignTree{root: info.Root.ID, tree: info.TreeID, at: n.now})
}

func (n *Node) vouched(root, tree NodeID) bool {
	for _, f := range n.coord.foreign {
		if f.root == root && f.tree == tree && n.now-f.at < 10*n.cfg.MergeProbe {
			return true
		}
	}
	return false
}

func (n *Node) offerMerge(to Member) {
	c := n.coord
	if c.lastOfferTo == to.ID && n.now-c.lastOfferAt < n.h {
		return
	}
	c.lastOfferTo, c.lastOfferAt = to.ID, n.now
	n.send(to, &MergeOffer{Addr: n.self.Addr, TreeID: n.treeID, Size: n.size})
}

// onMergeOffer: if the offering tree beats ours we migrate into it;
// otherwise we answer with our own offer so that it migrates into ours.
func (n *Node) onMergeOffer(from NodeID, m *MergeOffer) {
	if n.status != StatusRoot || m.TreeID == n.treeID || m.Size < 1 {
		return
	}
	other := Member{ID: from, Addr: m.Addr}
	if better(m.Size, m.TreeID, n.size, n.treeID) {
		if !n.vouched(from, m.TreeID) {
			n.reject(from, "merge offer from a root nobody vouched for")
			return
		}
		n.migrate(other, m.TreeID)
		return
	}
	n.offerMerge(other)
}

func (n *Node) migrate(target Member, tree NodeID) {
	n.event(EventMerge, target.ID, "tree of %d joins tree %s", n.size, tree)
	mg := &Migrate{TreeID: tree, Root: target}
	for i := range n.children {
		if !n.children[i].dead {
			n.send(n.children[i].m, mg)
		}
	}
	n.startJoin(&RootInfo{Member: true, TreeID: tree, Root: target})
}

func (n *Node) onMigrate(from NodeID, m *Migrate) {
	if n.status != StatusMember || from != n.parent.ID {
		n.reject(from, "migrate from a node that is not my parent")
		return
	}
	if m.Root.IsZero() {
		// Our parent lost the tree: re-join on our own.
		n.event(EventRejoin, from, "parent lost the tree")
		n.rejoin(nil)
		return
	}
	if m.TreeID == n.treeID {
		return
	}
	n.migrate(m.Root, m.TreeID)
}
