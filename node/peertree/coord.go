package peertree

import (
	"slices"
	"time"
)

// coordinator is the root's extra state. The root is the only node that
// holds the position table (one Member per position); every change to it is
// computed here, numbered with a new epoch, replicated to the successors and
// then announced to exactly the nodes whose neighbourhood changed.
type coordinator struct {
	members []Member // 1-based; members[0] unused
	n       int

	joinQ    []Member
	queued   map[NodeID]struct{}
	drops    map[int]NodeID
	commitAt time.Duration // 0: nothing to commit

	waiting  *commitWait
	pending  map[NodeID]*pendingUpdate
	retryQ   []*pendingUpdate
	replicas []*replicaPeer

	lastOfferTo NodeID
	lastOfferAt time.Duration
	foreign     []foreignTree // other trees' roots that a third party vouched for
}

// foreignTree is another tree's root as reported by someone other than that
// root itself. A root migrates only towards a root on this list, so a single
// node claiming to lead a huge tree cannot pull a tree away.
type foreignTree struct {
	root NodeID
	tree NodeID
	at   time.Duration
}

const maxForeign = 8

type pendingUpdate struct {
	to    Member
	u     *Update
	next  time.Duration
	tries int
	done  bool
}

// commitWait is a committed epoch whose Updates go out once every synced
// successor has acknowledged the Delta, so a successor that takes over never
// knows less than what any node was told.
type commitWait struct {
	delta *Delta
	await []NodeID
	aff   []int
	next  time.Duration
}

type replicaPeer struct {
	m       Member
	pos     int
	synced  bool
	started time.Duration // when this successor's first snapshot went out
	snap    []*Snapshot
	acked   []bool
	left    int
	next    time.Duration
}

func newCoordinator(self Member) *coordinator {
	return newCoordinatorFrom([]Member{{}, self}, 1)
}

func newCoordinatorFrom(members []Member, n int) *coordinator {
	return &coordinator{
		members: members,
		n:       n,
		queued:  make(map[NodeID]struct{}),
		drops:   make(map[int]NodeID),
		pending: make(map[NodeID]*pendingUpdate),
	}
}

// syncBlocking reports whether commits should wait for a successor's
// snapshot. They wait at most 2 H: a successor that cannot take a snapshot
// that fast is probably dead, and the failure detector will replace it; until
// then each commit restarts its snapshot at the new epoch.
func (n *Node) syncBlocking() bool {
	for _, r := range n.coord.replicas {
		if !r.synced && r.snap != nil && n.now-r.started < 2*n.h {
			return true
		}
	}
	return false
}

func (n *Node) retryEvery() time.Duration { return 2 * n.h }

func (n *Node) schedule(after time.Duration) {
	c := n.coord
	if t := n.now + after; c.commitAt == 0 || t < c.commitAt {
		c.commitAt = t
	}
}

func (n *Node) coordJoin(joiner Member, m *JoinRequest) {
	c := n.coord
	if _, ok := c.queued[joiner.ID]; ok {
		return
	}
	if p := c.pending[joiner.ID]; p != nil && !p.done && p.u.Pos >= 2 && p.u.Pos <= c.n && c.members[p.u.Pos].ID == joiner.ID {
		n.send(p.to, p.u) // placed already; its Update was lost
		return
	}
	if m.OldTree == n.treeID && m.OldPos >= 2 && m.OldPos <= c.n && c.members[m.OldPos].ID == joiner.ID {
		// It gives up its old position itself: only it may say so.
		n.coordAddDrop(m.OldPos, joiner.ID)
	}
	c.queued[joiner.ID] = struct{}{}
	c.joinQ = append(c.joinQ, joiner)
	n.schedule(n.cfg.JoinBatch)
}

func (n *Node) onDropReport(from NodeID, m *DropReport) {
	if n.status != StatusRoot {
		return
	}
	c := n.coord
	if m.Pos < 2 || m.Pos > c.n || c.members[m.Pos].ID != m.ID {
		n.reject(from, "drop report for pos %d: not held by %s (stale)", m.Pos, m.ID)
		return
	}
	if from != m.ID && c.members[ParentPos(m.Pos, n.m)].ID != from {
		n.reject(from, "drop report for pos %d from a node that is not its parent", m.Pos)
		return
	}
	n.coordAddDrop(m.Pos, m.ID)
}

func (n *Node) coordAddDrop(pos int, id NodeID) {
	c := n.coord
	if _, ok := c.drops[pos]; ok {
		return
	}
	c.drops[pos] = id
	n.schedule(n.cfg.RepairGather)
	n.forgetReplica(id)
}

// forgetReplica stops waiting for a successor that is dead.
func (n *Node) forgetReplica(id NodeID) {
	c := n.coord
	i := slices.IndexFunc(c.replicas, func(r *replicaPeer) bool { return r.m.ID == id })
	if i < 0 {
		return
	}
	c.replicas = slices.Delete(c.replicas, i, i+1)
	if w := c.waiting; w != nil {
		w.await = slices.DeleteFunc(w.await, func(x NodeID) bool { return x == id })
		if len(w.await) == 0 {
			n.finishCommit()
		}
	}
}

func (n *Node) coordTick() {
	c := n.coord
	for len(c.retryQ) > 0 {
		p := c.retryQ[0]
		if p.done {
			c.retryQ = c.retryQ[1:]
			continue
		}
		if p.next > n.now {
			break
		}
		c.retryQ = c.retryQ[1:]
		p.tries++
		if p.tries >= n.cfg.MaxUpdateTries {
			p.done = true
			delete(c.pending, p.to.ID)
			continue
		}
		n.send(p.to, p.u)
		p.next = n.now + n.retryEvery()
		c.retryQ = append(c.retryQ, p)
	}
	if w := c.waiting; w != nil && n.now >= w.next {
		for _, id := range w.await {
			if r := c.replica(id); r != nil {
				n.send(r.m, w.delta)
			}
		}
		w.next = n.now + n.retryEvery()
	}
	for _, r := range c.replicas {
		if !r.synced && n.now >= r.next {
			for i, s := range r.snap {
				if !r.acked[i] {
					n.send(r.m, s)
				}
			}
			r.next = n.now + n.retryEvery()
		}
	}
	n.maybeCommit()
}

func (c *coordinator) replica(id NodeID) *replicaPeer {
	for _, r := range c.replicas {
		if r.m.ID == id {
			return r
		}
	}
	return nil
}

func (n *Node) maybeCommit() {
	c := n.coord
	if c == nil || c.commitAt == 0 || n.now < c.commitAt || c.waiting != nil || n.syncBlocking() {
		return
	}
	c.commitAt = 0
	var holes []int
	for pos, id := range c.drops {
		if pos >= 2 && pos <= c.n && c.members[pos].ID == id {
			holes = append(holes, pos)
		} else {
			delete(c.drops, pos)
		}
	}
	slices.Sort(holes)
	// Bound one commit so its Delta stays a decodable message; the rest
	// is committed right after.
	if len(holes) > maxCommitChanges/2 {
		holes = holes[:maxCommitChanges/2]
		c.commitAt = n.now
	}
	for _, h := range holes {
		delete(c.drops, h)
	}
	k := min(len(c.joinQ), maxCommitChanges-2*len(holes))
	joiners := c.joinQ[:k:k]
	c.joinQ = c.joinQ[k:]
	for _, j := range joiners {
		delete(c.queued, j.ID)
	}
	if len(c.joinQ) > 0 {
		c.commitAt = n.now
	} else {
		c.joinQ = nil
	}
	if len(holes) == 0 && len(joiners) == 0 {
		return
	}
	n.commit(holes, joiners, nil)
}

// maxCommitChanges bounds the positions one commit may change (a Delta
// entry is ~40 bytes on the wire, so this stays far below MaxMessageSize
// and the decoder's array limit).
const maxCommitChanges = 16384

// commit applies one change set: joiners fill holes first, remaining holes
// are filled by moving the last node into them (or simply removed when the
// hole is the last position), remaining joiners are appended. The result is
// again a complete tree of positions 1..n.
func (n *Node) commit(holes []int, joiners []Member, extra []int) {
	c := n.coord
	for _, h := range holes {
		if id := c.members[h].ID; !id.IsZero() {
			if p := c.pending[id]; p != nil {
				p.done = true
				delete(c.pending, id)
			}
			n.forgetReplicaQuiet(id)
		}
	}
	changed := n.applyPlan(holes, joiners)
	changed = append(changed, extra...)
	slices.Sort(changed)
	changed = slices.Compact(changed)

	n.epoch++
	n.applied = n.epoch
	n.size = c.n
	n.refreshRootView()
	n.event(EventCommit, n.self.ID, "epoch %s size %d joins %d holes %d", n.epoch, c.n, len(joiners), len(holes))

	aff := n.affected(changed)
	delta := &Delta{Prev: n.epoch - 1, Epoch: n.epoch, Size: c.n, Changes: make([]Placement, 0, len(changed))}
	for _, p := range changed {
		pl := Placement{Pos: p}
		if p <= c.n {
			pl.M = c.members[p]
		}
		delta.Changes = append(delta.Changes, pl)
	}
	var await []NodeID
	for _, r := range c.replicas {
		if r.synced && r.pos <= c.n && c.members[r.pos].ID == r.m.ID {
			await = append(await, r.m.ID)
			n.send(r.m, delta)
		} else if !r.synced {
			r.snap = nil // its snapshot is now stale; restarted after this commit
		}
	}
	c.waiting = &commitWait{delta: delta, await: await, aff: aff, next: n.now + n.retryEvery()}
	if len(await) == 0 {
		n.finishCommit()
	}
}

// forgetReplicaQuiet removes a replica without triggering finishCommit
// (used inside commit, before the new wait is set up).
func (n *Node) forgetReplicaQuiet(id NodeID) {
	c := n.coord
	c.replicas = slices.DeleteFunc(c.replicas, func(r *replicaPeer) bool { return r.m.ID == id })
}

func (n *Node) applyPlan(holes []int, joiners []Member) []int {
	c := n.coord
	var changed []int
	ji := 0
	rest := make([]int, 0, len(holes))
	for _, h := range holes {
		if ji < len(joiners) {
			c.members[h] = joiners[ji]
			ji++
			changed = append(changed, h)
		} else {
			rest = append(rest, h)
		}
	}
	open := make(map[int]bool, len(rest))
	for _, h := range rest {
		open[h] = true
	}
	i := 0
	for len(open) > 0 {
		if open[c.n] {
			c.members[c.n] = Member{}
			changed = append(changed, c.n)
			delete(open, c.n)
			c.n--
			continue
		}
		for !open[rest[i]] {
			i++
		}
		h := rest[i]
		c.members[h] = c.members[c.n]
		c.members[c.n] = Member{}
		changed = append(changed, h, c.n)
		delete(open, h)
		c.n--
	}
	for ; ji < len(joiners); ji++ {
		c.n++
		if c.n < len(c.members) {
			c.members[c.n] = joiners[ji]
		} else {
			c.members = append(c.members, joiners[ji])
		}
		changed = append(changed, c.n)
	}
	clear(c.members[c.n+1:])
	c.members = c.members[:c.n+1]
	return changed
}

// affected lists the positions whose Update changes when `changed` slots got
// new occupants: the slot itself, its parent (children list) and its
// children (parent pointer).
func (n *Node) affected(changed []int) []int {
	c := n.coord
	set := make(map[int]struct{}, len(changed)+len(changed)/n.m+1)
	for _, p := range changed {
		if p <= c.n {
			set[p] = struct{}{}
		}
		if pp := ParentPos(p, n.m); pp >= 1 && pp <= c.n {
			set[pp] = struct{}{}
		}
		first := FirstChildPos(p, n.m)
		for q := first; q < first+n.m && q <= c.n; q++ {
			set[q] = struct{}{}
		}
	}
	out := make([]int, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func (n *Node) onDeltaAck(from NodeID, m *DeltaAck) {
	c := n.coord
	w := c.waiting
	if m.Resync {
		if r := c.replica(from); r != nil {
			r.synced = false
			r.snap = nil
		}
	}
	if w == nil || m.Epoch != w.delta.Epoch {
		n.startPendingSnapshots()
		return
	}
	w.await = slices.DeleteFunc(w.await, func(x NodeID) bool { return x == from })
	if len(w.await) == 0 {
		n.finishCommit()
	}
}

// finishCommit announces the committed epoch and brings the successor set up
// to date (new successors get a snapshot of the table).
func (n *Node) finishCommit() {
	c := n.coord
	w := c.waiting
	c.waiting = nil
	if w != nil {
		for _, p := range w.aff {
			if p >= 2 {
				n.sendUpdate(p)
			}
		}
	}
	last := min(c.n, 1+n.cfg.Replicas)
	next := make([]*replicaPeer, 0, n.cfg.Replicas)
	for p := 2; p <= last; p++ {
		m := c.members[p]
		r := c.replica(m.ID)
		if r == nil {
			r = &replicaPeer{m: m}
		}
		r.pos = p
		next = append(next, r)
	}
	c.replicas = next
	n.startPendingSnapshots()
	n.maybeCommit()
}

func (n *Node) startPendingSnapshots() {
	c := n.coord
	for _, r := range c.replicas {
		if r.synced || r.snap != nil {
			continue
		}
		if r.started == 0 {
			r.started = n.now
		}
		k := n.cfg.SnapshotChunk
		count := (c.n + k - 1) / k
		r.snap = make([]*Snapshot, count)
		r.acked = make([]bool, count)
		r.left = count
		for i := range count {
			lo := 1 + i*k
			hi := min(c.n, lo+k-1)
			s := &Snapshot{Epoch: n.epoch, Size: c.n, Index: i, Count: count, Offset: lo,
				Members: slices.Clone(c.members[lo : hi+1])}
			r.snap[i] = s
			n.send(r.m, s)
		}
		r.next = n.now + n.retryEvery()
	}
}

func (n *Node) onSnapshotAck(from NodeID, m *SnapshotAck) {
	c := n.coord
	r := c.replica(from)
	if r == nil || r.synced || r.snap == nil || m.Index < 0 || m.Index >= len(r.snap) || r.snap[m.Index].Epoch != m.Epoch {
		return
	}
	if !r.acked[m.Index] {
		r.acked[m.Index] = true
		r.left--
	}
	if r.left == 0 {
		r.synced = true
		r.snap, r.acked = nil, nil
		n.maybeCommit()
	}
}

// refreshRootView derives the root's own neighbourhood from the table.
func (n *Node) refreshRootView() {
	c := n.coord
	k := ChildCount(1, n.m, c.n)
	old := n.children
	n.children = make([]child, k)
	for i := range k {
		m := c.members[2+i]
		n.children[i] = child{m: m, heard: n.now}
		for _, o := range old {
			if o.m.ID == m.ID {
				n.children[i] = o
				n.children[i].m = m
				break
			}
		}
	}
	n.succ = slices.Clone(c.members[2 : 2+min(k, n.cfg.Replicas)])
	n.suspects = slices.DeleteFunc(n.suspects, func(s *suspicion) bool {
		j := s.pos - 2
		return s.purpose == suspectChild && (j < 0 || j >= len(n.children) || n.children[j].m.ID != s.target.ID)
	})
}

func (n *Node) sendUpdate(p int) {
	c := n.coord
	u := &Update{Epoch: n.epoch, TreeID: n.treeID, Pos: p, Size: c.n, Root: n.self,
		Parent: c.members[ParentPos(p, n.m)], Successors: n.succ}
	if k := ChildCount(p, n.m, c.n); k > 0 {
		first := FirstChildPos(p, n.m)
		u.Children = slices.Clone(c.members[first : first+k])
	}
	to := c.members[p]
	if old := c.pending[to.ID]; old != nil {
		old.done = true
	}
	pu := &pendingUpdate{to: to, u: u, next: n.now + n.retryEvery()}
	c.pending[to.ID] = pu
	c.retryQ = append(c.retryQ, pu)
	n.send(to, u)
}

func (c *coordinator) onUpdateAck(from NodeID, m *UpdateAck) {
	if p := c.pending[from]; p != nil && m.Epoch >= p.u.Epoch {
		p.done = true
		delete(c.pending, from)
	}
}

// takeover makes this successor the root after the root (and every
// successor ranked before it) was confirmed dead. Its own old position and
// the dead successors' positions become holes filled as usual; the new term
// makes every Update it sends beat anything the old root said.
func (n *Node) takeover() {
	r := n.replica
	oldPos := n.pos
	n.event(EventTakeover, n.root.ID, "successor at %d takes over a tree of %d", oldPos, r.n)
	term := max(n.epoch.Term(), r.epoch.Term()) + 1
	n.epoch = newTermEpoch(term)
	n.treeID = treeIDFor(n.self.ID, n.epoch)
	c := newCoordinatorFrom(r.members, r.n)
	n.coord = c
	n.replica = nil
	n.status = StatusRoot
	n.pos = 1
	n.parent = Member{}
	n.root = n.self
	n.suspects = nil
	c.members[1] = n.self
	holes := []int{oldPos}
	for p := 2; p < oldPos; p++ {
		holes = append(holes, p)
	}
	slices.Sort(holes)
	extra := append([]int{1}, r.lastChanged...)
	n.commit(holes, nil, extra)
}
