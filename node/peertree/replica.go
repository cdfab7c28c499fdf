package peertree

// replicaState is a successor's copy of the root's position table, kept in
// step by Deltas (one per committed epoch) after an initial Snapshot.
type replicaState struct {
	members     []Member
	n           int
	epoch       Epoch
	synced      bool
	snapEpoch   Epoch
	got         []bool
	left        int
	lastChanged []int
	rootDead    bool
	deadSucc    []NodeID
}

// maxTreeSize bounds sizes accepted from the network.
const maxTreeSize = 1 << 27

func (n *Node) fromMyRoot(from NodeID) bool {
	if n.status == StatusMember && from == n.root.ID {
		return true
	}
	return n.status == StatusJoining && n.join != nil && n.join.phase == phaseRequest && from == n.join.target.ID
}

func (n *Node) onSnapshot(from NodeID, s *Snapshot) {
	if !n.fromMyRoot(from) {
		n.reject(from, "snapshot from a node that is not my root")
		return
	}
	if s.Size < 1 || s.Size > maxTreeSize || s.Count < 1 || s.Count > s.Size || s.Index < 0 || s.Index >= s.Count ||
		s.Offset < 1 || s.Offset+len(s.Members)-1 > s.Size {
		n.reject(from, "malformed snapshot")
		return
	}
	r := n.replica
	if r == nil || s.Epoch > r.snapEpoch {
		r = &replicaState{members: make([]Member, s.Size+1), snapEpoch: s.Epoch, got: make([]bool, s.Count), left: s.Count}
		n.replica = r
	}
	if s.Epoch < r.snapEpoch || len(r.got) != s.Count || len(r.members) != s.Size+1 {
		return
	}
	if !r.got[s.Index] {
		copy(r.members[s.Offset:], s.Members)
		r.got[s.Index] = true
		r.left--
		if r.left == 0 {
			r.synced = true
			r.epoch = r.snapEpoch
			r.n = s.Size
			r.got = nil
		}
	}
	n.send(Member{ID: from, Addr: n.rootAddr(from)}, &SnapshotAck{Epoch: s.Epoch, Index: s.Index})
}

func (n *Node) rootAddr(from NodeID) string {
	if n.root.ID == from {
		return n.root.Addr
	}
	if n.join != nil && n.join.target.ID == from {
		return n.join.target.Addr
	}
	return ""
}

func (n *Node) onDelta(from NodeID, d *Delta) {
	if n.status != StatusMember || from != n.root.ID {
		n.reject(from, "delta from a node that is not my root")
		return
	}
	r := n.replica
	if r == nil || !r.synced {
		n.send(n.root, &DeltaAck{Epoch: d.Epoch, Resync: true})
		return
	}
	if d.Epoch <= r.epoch {
		n.send(n.root, &DeltaAck{Epoch: d.Epoch})
		return
	}
	if d.Prev != r.epoch || d.Size < 1 || d.Size > maxTreeSize {
		r.synced = false
		n.send(n.root, &DeltaAck{Epoch: d.Epoch, Resync: true})
		return
	}
	limit := max(d.Size, r.n)
	for _, c := range d.Changes {
		if c.Pos < 1 || c.Pos > limit || c.Pos > d.Size+len(d.Changes) {
			n.reject(from, "malformed delta position %d", c.Pos)
			return
		}
	}
	r.lastChanged = r.lastChanged[:0]
	for _, c := range d.Changes {
		for c.Pos >= len(r.members) {
			r.members = append(r.members, Member{})
		}
		r.members[c.Pos] = c.M
		r.lastChanged = append(r.lastChanged, c.Pos)
	}
	if d.Size+1 < len(r.members) {
		clear(r.members[d.Size+1:])
		r.members = r.members[:d.Size+1]
	}
	r.n = d.Size
	r.epoch = d.Epoch
	if d.Epoch > n.epoch {
		// The delta is the newest view: take its size with its epoch, or
		// the parent's heartbeat for this epoch (ignored as not newer)
		// would never correct our size.
		n.epoch, n.size = d.Epoch, d.Size
	}
	n.send(n.root, &DeltaAck{Epoch: d.Epoch})
}
