package peertree

// replicaState is a successor's copy of the root's position table, kept in
// step by Deltas (one per committed epoch) after an initial Snapshot.
type replicaState struct {
	members     []Member
	n           int
	epoch       Epoch
	synced      bool
	snapEpoch   Epoch
	count       int               // chunks in the snapshot being received
	chunks      map[int]*Snapshot // received so far, by index
	recv        int               // members received so far
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
		r = &replicaState{snapEpoch: s.Epoch, n: s.Size, count: s.Count, chunks: map[int]*Snapshot{}}
		n.replica = r
	}
	if s.Epoch < r.snapEpoch || (!r.synced && (r.count != s.Count || r.n != s.Size)) {
		return
	}
	if r.synced {
		// A retransmission after our ack was lost: ack again so the root
		// stops waiting.
		if s.Epoch == r.snapEpoch {
			n.send(Member{ID: from, Addr: n.rootAddr(from)}, &SnapshotAck{Epoch: s.Epoch, Index: s.Index})
		}
		return
	}
	if _, dup := r.chunks[s.Index]; !dup {
		// Keep chunks as they come: memory follows the data received, so a
		// bogus Size or Offset cannot make us allocate a huge table.
		r.chunks[s.Index] = s
		r.recv += len(s.Members)
		if r.recv > r.n {
			n.replica = nil
			n.reject(from, "snapshot chunks exceed the announced size")
			return
		}
		if len(r.chunks) == r.count {
			if !n.assemble(r) {
				n.replica = nil
				n.reject(from, "snapshot chunks do not tile positions 1..%d", r.n)
				return
			}
		}
	}
	n.send(Member{ID: from, Addr: n.rootAddr(from)}, &SnapshotAck{Epoch: s.Epoch, Index: s.Index})
}

// assemble builds the table once every chunk is in; the chunks must tile
// positions 1..n exactly.
func (n *Node) assemble(r *replicaState) bool {
	if r.recv != r.n {
		return false
	}
	next := 1
	for i := 0; i < r.count; i++ {
		c := r.chunks[i]
		if c == nil || c.Offset != next {
			return false
		}
		next += len(c.Members)
	}
	r.members = make([]Member, r.n+1)
	for i := 0; i < r.count; i++ {
		c := r.chunks[i]
		copy(r.members[c.Offset:], c.Members)
	}
	r.chunks = nil
	r.synced = true
	r.epoch = r.snapEpoch
	return true
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
	// A commit can only append as many positions as it has changes.
	limit := min(max(d.Size, r.n), r.n+len(d.Changes))
	for _, c := range d.Changes {
		if c.Pos < 1 || c.Pos > limit {
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
