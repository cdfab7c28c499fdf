package peertree

import (
	"slices"
	"time"
)

// purposes of a suspicion: what happens when it is confirmed.
const (
	suspectChild = iota + 1 // a child: the parent reports its drop to the root
	suspectRoot             // the root, seen from a successor: take over
	suspectSucc             // a lower-ranked successor, seen from a higher one
)

// suspicion is one neighbour under SWIM-style investigation: a direct probe
// and k indirect probes per round; any sign of life clears it, silence for
// ConfirmRounds rounds confirms it.
type suspicion struct {
	target    Member
	pos       int // the position the target is suspected of no longer serving
	purpose   int
	rounds    int
	negatives int // helpers that also failed to reach the target
	helpers   int // helpers asked in total
}

// helpTask is a probe this node runs on behalf of another (indirect probe).
type helpTask struct {
	target    NodeID
	requester Member
	deadline  time.Duration
}

const maxHelpTasks = 64

// holds reports whether this node is alive at position pos of tree t as
// seen at epoch e. A node that is behind (it has not yet heard of a takeover
// that renamed the tree) still holds its position: only a node that has
// moved on (another position, or no tree) gives a slot up.
func (n *Node) holds(t NodeID, pos int, e Epoch) bool {
	if n.status != StatusMember && n.status != StatusRoot || n.pos != pos {
		return false
	}
	return n.treeID == t || n.epoch < e
}

// heard records that `from` is alive. For the parent and the root any
// message will do; a child only counts as alive at its position through a
// heartbeat or probe answer naming that position (see onHeartbeatUp and
// onProbeAck), so a node that re-joined elsewhere cannot keep its old slot
// alive by talking to us.
func (n *Node) heard(from NodeID) {
	if from == n.parent.ID {
		n.parentHeard = n.now
	}
	if from == n.root.ID {
		n.rootHeard = n.now
	}
	if len(n.suspects) > 0 {
		n.suspects = slices.DeleteFunc(n.suspects, func(s *suspicion) bool {
			return s.target.ID == from && s.purpose != suspectChild
		})
	}
}

// childAlive records position-specific evidence that child slot i lives.
func (n *Node) childAlive(i int) {
	c := &n.children[i]
	c.heard = n.now
	c.hello = true
	if len(n.suspects) > 0 {
		pos := FirstChildPos(n.pos, n.m) + i
		n.suspects = slices.DeleteFunc(n.suspects, func(s *suspicion) bool {
			return s.purpose == suspectChild && s.pos == pos && s.target.ID == c.m.ID
		})
	}
}

func (n *Node) onProbeAck(from NodeID, m *ProbeAck) {
	if len(n.helps) > 0 {
		n.helps = slices.DeleteFunc(n.helps, func(t helpTask) bool {
			if t.target == from {
				n.send(t.requester, &ProbeResult{Target: from, Alive: m.Holds})
				return true
			}
			return false
		})
	}
	for i := 0; i < len(n.suspects); i++ {
		s := n.suspects[i]
		if s.target.ID != from {
			continue
		}
		switch {
		case m.Holds && s.purpose == suspectChild:
			if j := s.pos - FirstChildPos(n.pos, n.m); j >= 0 && j < len(n.children) && n.children[j].m.ID == from {
				n.childAlive(j) // removes s
				i--
			}
		case m.Holds:
			n.suspects = slices.Delete(n.suspects, i, i+1)
			i--
		case s.purpose == suspectChild:
			// Alive but gone from that position: it gave the slot up itself.
			n.suspects = slices.Delete(n.suspects, i, i+1)
			i--
			n.confirmDead(s)
		}
	}
}

func (n *Node) suspecting(id NodeID) bool {
	for _, s := range n.suspects {
		if s.target.ID == id {
			return true
		}
	}
	return false
}

func (n *Node) suspectingPos(id NodeID, pos int) bool {
	for _, s := range n.suspects {
		if s.target.ID == id && s.pos == pos {
			return true
		}
	}
	return false
}

func (n *Node) silentLimit() time.Duration {
	return time.Duration(n.cfg.SuspectAfter)*n.h + n.h/2
}

// heartbeatTick runs once per H: heartbeats to neighbours, then the failure
// detector, then the slow retries that share the heartbeat cadence.
func (n *Node) heartbeatTick() {
	if !n.parent.IsZero() {
		n.send(n.parent, &HeartbeatUp{Epoch: n.epoch, Pos: n.pos})
	}
	if len(n.children) > 0 {
		hb := &HeartbeatDown{Epoch: n.epoch, TreeID: n.treeID, Size: n.size, Pos: n.pos, Root: n.root, Successors: n.succ}
		for i := range n.children {
			if !n.children[i].dead {
				n.send(n.children[i].m, hb)
			}
		}
	}
	n.probeRounds()
	n.detectChildren()
	if n.status == StatusMember {
		n.watchParent()
	}
	n.expireHelps()
}

func (n *Node) detectChildren() {
	for i := range n.children {
		c := &n.children[i]
		// A child adopted in a repair must greet its new parent within 2 H
		// (it heartbeats as soon as its Update arrives; an Update retry
		// comes after 2 H). Chains of dead nodes are found a level faster.
		limit := n.silentLimit()
		if !c.hello {
			limit = 2 * n.h
		}
		if c.dead {
			if n.now >= c.nextReport {
				n.reportDrop(FirstChildPos(n.pos, n.m)+i, c.m.ID)
				c.nextReport = n.now + n.h
			}
			continue
		}
		if pos := FirstChildPos(n.pos, n.m) + i; n.now-c.heard > limit && !n.suspectingPos(c.m.ID, pos) {
			n.startSuspicion(c.m, pos, suspectChild)
		}
	}
}

// watchParent handles a silent parent: a successor suspects a silent root
// (and may take over); anyone else asks the root where it stands and, if the
// root is gone too, re-joins through its contacts.
func (n *Node) watchParent() {
	silent := n.now - n.parentHeard
	if n.isReplicaPos() && n.replica != nil && n.replica.synced && silent > n.silentLimit() && !n.suspecting(n.parent.ID) {
		n.startSuspicion(n.parent, 1, suspectRoot)
	}
	if silent > n.cfg.OrphanAfter {
		if n.now-n.rootHeard > n.cfg.OrphanAfter && silent > n.cfg.RejoinAfter {
			n.event(EventRejoin, n.parent.ID, "parent and root silent for %v", silent)
			n.rejoin(nil)
			return
		}
		n.askWhereAmI()
	}
}

func (n *Node) isReplicaPos() bool { return n.pos >= 2 && n.pos <= 1+n.cfg.Replicas }

func (n *Node) startSuspicion(target Member, pos, purpose int) {
	n.event(EventSuspect, target.ID, "pos=%d purpose=%d", pos, purpose)
	s := &suspicion{target: target, pos: pos, purpose: purpose}
	n.suspects = append(n.suspects, s)
	n.probeRound(s)
	s.rounds++
}

func (n *Node) probeRounds() {
	for i := 0; i < len(n.suspects); {
		s := n.suspects[i]
		if s.rounds >= n.cfg.ConfirmRounds {
			n.suspects = slices.Delete(n.suspects, i, i+1)
			n.confirmDead(s)
			continue
		}
		n.probeRound(s)
		s.rounds++
		i++
	}
}

// probeRound sends one direct probe and asks k helpers to probe too. Helpers
// are the target's other neighbours we know: our other children (its
// siblings) and our parent; for the root, the root's other children.
func (n *Node) probeRound(s *suspicion) {
	n.send(s.target, &Probe{Addr: n.self.Addr, TreeID: n.treeID, Pos: s.pos, Epoch: n.epoch})
	var cand []Member
	switch s.purpose {
	case suspectChild:
		for i := range n.children {
			c := &n.children[i]
			if !c.dead && c.m.ID != s.target.ID {
				cand = append(cand, c.m)
			}
		}
		if !n.parent.IsZero() {
			cand = append(cand, n.parent)
		}
	default:
		if r := n.replica; r != nil {
			last := min(r.n, 1+n.m)
			for p := 2; p <= last && p < len(r.members); p++ {
				if id := r.members[p].ID; id != n.self.ID && id != s.target.ID && !id.IsZero() {
					cand = append(cand, r.members[p])
				}
			}
		}
	}
	k := min(n.cfg.IndirectProbes, len(cand))
	for i := 0; i < k; i++ {
		j := i + n.rng.IntN(len(cand)-i)
		cand[i], cand[j] = cand[j], cand[i]
		n.send(cand[i], &ProbeReq{Addr: n.self.Addr, Target: s.target, TreeID: n.treeID, Pos: s.pos, Epoch: n.epoch})
	}
	s.helpers += k
}

func (n *Node) onProbeReq(from NodeID, m *ProbeReq) {
	if m.Target.ID.IsZero() || m.Target.ID == n.self.ID {
		n.send(Member{ID: from, Addr: m.Addr}, &ProbeResult{Target: n.self.ID, Alive: n.holds(m.TreeID, m.Pos, m.Epoch)})
		return
	}
	if len(n.helps) >= maxHelpTasks {
		return
	}
	n.send(m.Target, &Probe{Addr: n.self.Addr, TreeID: m.TreeID, Pos: m.Pos, Epoch: m.Epoch})
	n.helps = append(n.helps, helpTask{target: m.Target.ID, requester: Member{ID: from, Addr: m.Addr}, deadline: n.now + n.h})
}

func (n *Node) expireHelps() {
	n.helps = slices.DeleteFunc(n.helps, func(t helpTask) bool {
		if n.now >= t.deadline {
			n.send(t.requester, &ProbeResult{Target: t.target, Alive: false})
			return true
		}
		return false
	})
}

func (n *Node) onProbeResult(from NodeID, m *ProbeResult) {
	for i, s := range n.suspects {
		if s.target.ID != m.Target {
			continue
		}
		if !m.Alive {
			s.negatives++
		} else if j := s.pos - FirstChildPos(n.pos, n.m); s.purpose == suspectChild && j >= 0 && j < len(n.children) && n.children[j].m.ID == s.target.ID {
			n.childAlive(j)
		} else {
			n.suspects = slices.Delete(n.suspects, i, i+1)
		}
		return
	}
}

func (n *Node) confirmDead(s *suspicion) {
	switch s.purpose {
	case suspectChild:
		i := s.pos - FirstChildPos(n.pos, n.m)
		if i < 0 || i >= len(n.children) || n.children[i].m.ID != s.target.ID || n.children[i].dead {
			return
		}
		n.event(EventDead, s.target.ID, "child at %d", s.pos)
		n.children[i].dead = true
		n.children[i].nextReport = n.now + n.h
		n.reportDrop(s.pos, s.target.ID)
	case suspectRoot, suspectSucc:
		// Root death needs a second opinion: at least one other root child
		// must also have failed to reach it (unless there is nobody to ask).
		if s.helpers > 0 && s.negatives == 0 {
			return
		}
		n.event(EventDead, s.target.ID, "purpose=%d negatives=%d/%d", s.purpose, s.negatives, s.helpers)
		n.rootOrSuccessorDead(s)
	}
}

// rootOrSuccessorDead decides whether this successor takes over: the first
// successor does once the root is confirmed dead; a later one only once every
// successor ranked before it is confirmed dead too.
func (n *Node) rootOrSuccessorDead(s *suspicion) {
	r := n.replica
	if r == nil || !r.synced || n.status != StatusMember || !n.isReplicaPos() {
		return
	}
	if s.purpose == suspectRoot {
		if s.target.ID != n.parent.ID {
			return
		}
		r.rootDead = true
	} else {
		r.deadSucc = append(r.deadSucc, s.target.ID)
	}
	if !r.rootDead {
		return
	}
	for p := 2; p < n.pos; p++ {
		id := r.members[p].ID
		if id.IsZero() || slices.Contains(r.deadSucc, id) {
			continue
		}
		if !n.suspecting(id) {
			n.startSuspicion(r.members[p], p, suspectSucc)
		}
		return
	}
	n.takeover()
}

func (n *Node) reportDrop(pos int, id NodeID) {
	if n.status == StatusRoot {
		n.coordAddDrop(pos, id)
		return
	}
	n.send(n.root, &DropReport{Pos: pos, ID: id})
}

func (n *Node) askWhereAmI() {
	if n.status != StatusMember || n.now-n.lastWhereAmI < 2*n.h {
		return
	}
	n.lastWhereAmI = n.now
	n.send(n.root, &WhereAmI{Addr: n.self.Addr, Pos: n.pos})
}

// --- heartbeats ---

func (n *Node) onHeartbeatDown(from NodeID, m *HeartbeatDown) {
	if n.status != StatusMember {
		return
	}
	if from != n.parent.ID || m.Pos != ParentPos(n.pos, n.m) {
		n.send(Member{ID: from}, &NotYourChild{Epoch: n.epoch})
		return
	}
	if m.Epoch <= n.epoch || m.Root.IsZero() || m.Size < n.pos || len(m.Successors) > n.m {
		return
	}
	// Our parent is trusted for the tree-wide view; pass a new root on at
	// once so that a takeover reaches the leaves in one round trip per level.
	changedRoot := m.Root.ID != n.root.ID || m.TreeID != n.treeID
	n.epoch, n.size, n.treeID = m.Epoch, m.Size, m.TreeID
	if changedRoot {
		n.root = m.Root
		n.rootHeard = n.now
	}
	n.succ = append(n.succ[:0], m.Successors...)
	if changedRoot && len(n.children) > 0 {
		hb := &HeartbeatDown{Epoch: n.epoch, TreeID: n.treeID, Size: n.size, Pos: n.pos, Root: n.root, Successors: n.succ}
		for i := range n.children {
			if !n.children[i].dead {
				n.send(n.children[i].m, hb)
			}
		}
	}
}

func (n *Node) onHeartbeatUp(from NodeID, m *HeartbeatUp) {
	if n.status != StatusMember && n.status != StatusRoot {
		n.send(Member{ID: from}, &NotYourParent{Epoch: n.epoch})
		return
	}
	first := FirstChildPos(n.pos, n.m)
	i := m.Pos - first
	if i >= 0 && i < len(n.children) && n.children[i].m.ID == from {
		n.childAlive(i)
		return
	}
	if n.childIndex(from) < 0 {
		n.send(Member{ID: from}, &NotYourParent{Epoch: n.epoch})
	}
}

// --- updates from the root ---

func (n *Node) onUpdate(from NodeID, u *Update) {
	authorised := false
	switch n.status {
	case StatusJoining:
		authorised = n.join != nil && from == n.join.target.ID
	case StatusMember:
		authorised = from == n.root.ID ||
			(u.Epoch.Term() > n.epoch.Term() && n.isSuccessor(from))
	case StatusRoot:
		// A successor took over while we were cut off: its term is newer.
		authorised = u.Epoch.Term() > n.epoch.Term() && n.isSuccessor(from)
	}
	if !authorised {
		n.reject(from, "update for pos %d at epoch %s from a node that is not my root", u.Pos, u.Epoch)
		return
	}
	if u.Root.ID != from || u.Pos < 2 || u.Size < u.Pos || len(u.Children) > n.m ||
		len(u.Children) != ChildCount(u.Pos, n.m, u.Size) || u.Parent.IsZero() ||
		len(u.Successors) > n.m {
		n.reject(from, "malformed update for pos %d", u.Pos)
		return
	}
	if n.status != StatusJoining && n.applied != 0 && u.Epoch <= n.applied {
		if u.Epoch == n.applied {
			n.send(u.Root, &UpdateAck{Epoch: u.Epoch})
		} else {
			n.reject(from, "stale update epoch %s <= applied %s", u.Epoch, n.applied)
		}
		return
	}
	joined := n.status == StatusJoining
	if n.status == StatusRoot {
		n.coord = nil
	}
	n.join = nil
	n.status = StatusMember
	n.treeID = u.TreeID
	n.applied = u.Epoch
	if u.Epoch > n.epoch || joined {
		n.epoch = u.Epoch
	}
	n.size = u.Size
	n.pos = u.Pos
	n.root = u.Root
	n.rootHeard = n.now
	n.succ = append(n.succ[:0], u.Successors...)
	if u.Parent.ID != n.parent.ID {
		n.parentHeard = n.now
	}
	n.parent = u.Parent
	old := n.children
	n.children = make([]child, len(u.Children))
	for i, c := range u.Children {
		n.children[i] = child{m: c, heard: n.now}
		for _, o := range old {
			if o.m.ID == c.ID {
				n.children[i].heard = o.heard
				n.children[i].hello = o.hello
				n.children[i].dead = o.dead
				n.children[i].nextReport = o.nextReport
				break
			}
		}
	}
	n.suspects = slices.DeleteFunc(n.suspects, func(s *suspicion) bool {
		if s.purpose == suspectChild {
			j := s.pos - FirstChildPos(n.pos, n.m)
			return j < 0 || j >= len(n.children) || n.children[j].m.ID != s.target.ID
		}
		// Root and successor suspicions are about the old root's era.
		return true
	})
	if !n.isReplicaPos() {
		n.replica = nil
	} else if r := n.replica; r != nil {
		r.rootDead = false
		r.deadSucc = r.deadSucc[:0]
	}
	n.addContact(u.Parent)
	n.send(u.Root, &UpdateAck{Epoch: u.Epoch})
	if joined {
		n.event(EventJoined, from, "pos %d of %d epoch %s", u.Pos, u.Size, u.Epoch)
		n.nextHB = n.now + n.jitter(n.h)
	}
}

func (n *Node) onWhereAmI(from NodeID, m *WhereAmI) {
	if n.status == StatusRoot {
		c := n.coord
		if m.Pos >= 2 && m.Pos <= c.n && c.members[m.Pos].ID == from {
			n.sendUpdate(m.Pos)
			return
		}
		// Moved, and asking before its Update arrived: re-send that.
		if p := c.pending[from]; p != nil && !p.done {
			n.send(p.to, p.u)
			return
		}
	}
	n.send(Member{ID: from, Addr: m.Addr}, &NotMember{Hint: *n.rootInfo()})
}

func (n *Node) onNotMember(from NodeID, m *NotMember) {
	if n.status != StatusMember || from != n.root.ID {
		return
	}
	var hint *RootInfo
	if m.Hint.Member && m.Hint.TreeID != n.treeID && !m.Hint.Root.IsZero() {
		hint = &m.Hint
	}
	n.event(EventRejoin, from, "root says I hold no position")
	n.rejoin(hint)
}

// rejoin drops all tree state and joins again (no restart: same core). Our
// subtree is cut off with us, so the children are told to re-join at once
// rather than each level waiting out RejoinAfter in turn.
func (n *Node) rejoin(hint *RootInfo) {
	mg := &Migrate{}
	if hint != nil {
		mg.TreeID, mg.Root = hint.TreeID, hint.Root
	}
	for i := range n.children {
		if !n.children[i].dead {
			n.send(n.children[i].m, mg)
		}
	}
	n.addContact(n.root)
	n.startJoin(hint)
}
