package peertree

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Node is one PeerTree core. It is not safe for concurrent use: the runtime
// serialises calls (one goroutine per cell), the simulator runs one at a time.
type Node struct {
	cfg  Config
	m    int
	h    time.Duration
	rng  *rand.Rand
	self Member
	now  time.Duration

	status  Status
	treeID  NodeID
	epoch   Epoch // newest epoch heard from a trusted source
	applied Epoch // epoch of the last Update applied to our own state
	size    int
	pos     int
	root    Member
	succ    []Member // root's successors (positions 2..1+Replicas)

	parent      Member
	parentHeard time.Duration
	rootHeard   time.Duration
	children    []child

	nextHB       time.Duration
	suspects     []*suspicion
	helps        []helpTask
	lastWhereAmI time.Duration
	nextMerge    time.Duration
	mergeAsked   []NodeID // contacts asked by the merge probe, answers expected

	contacts []Member
	join     *joinState
	coord    *coordinator  // non-nil while root
	replica  *replicaState // non-nil at a successor position

	dedup dedupCache
	rd    Ready
}

type child struct {
	m          Member
	heard      time.Duration
	hello      bool // heard from at this position since adoption
	dead       bool
	nextReport time.Duration
}

// New returns a core in StatusIdle. Call Start before anything else.
func New(cfg Config) *Node {
	cfg.setDefaults()
	return &Node{cfg: cfg, m: cfg.MaxChildren, h: cfg.Heartbeat, rng: cfg.Rand, self: cfg.Self}
}

// maxContacts bounds the contact list (merge probes and re-joins use it).
const maxContacts = 8

// maxQueried is how many contacts a joiner asks at once.
const maxQueried = 3

// Start begins life: with no contacts the node founds a one-node tree at
// once; otherwise it asks the contacts for their trees and joins the largest,
// becoming root alone if nobody answers.
func (n *Node) Start(now time.Duration, contacts []Member) Ready {
	n.begin(now)
	for _, c := range contacts {
		n.addContact(c)
	}
	n.nextMerge = now + n.cfg.MergeProbe + n.jitter(n.cfg.MergeProbe)
	n.startJoin(nil)
	return n.finish()
}

// Tick runs timers that are due at now.
func (n *Node) Tick(now time.Duration) Ready {
	n.begin(now)
	if n.join != nil {
		n.joinTick()
	}
	if n.status == StatusMember || n.status == StatusRoot {
		if now >= n.nextHB {
			n.heartbeatTick()
			n.nextHB += n.h
			if n.nextHB <= now {
				n.nextHB = now + n.h
			}
		}
		if n.coord != nil {
			n.coordTick()
		}
		if now >= n.nextMerge {
			n.mergeProbe()
		}
	}
	return n.finish()
}

// Step handles one authenticated message from the node `from`.
func (n *Node) Step(now time.Duration, from NodeID, msg Message) Ready {
	n.begin(now)
	if from == n.self.ID || msg == nil {
		return n.finish()
	}
	n.heard(from)
	switch m := msg.(type) {
	case *HeartbeatDown:
		n.onHeartbeatDown(from, m)
	case *HeartbeatUp:
		n.onHeartbeatUp(from, m)
	case *NotYourParent:
		if from == n.parent.ID {
			n.askWhereAmI()
		}
	case *NotYourChild:
		if n.childIndex(from) >= 0 {
			n.askWhereAmI()
		}
	case *Probe:
		n.send(Member{ID: from, Addr: m.Addr}, &ProbeAck{Holds: n.holds(m.TreeID, m.Pos, m.Epoch)})
	case *ProbeAck:
		n.onProbeAck(from, m)
	case *ProbeReq:
		n.onProbeReq(from, m)
	case *ProbeResult:
		n.onProbeResult(from, m)
	case *RootQuery:
		n.send(Member{ID: from, Addr: m.Addr}, n.rootInfo())
	case *RootInfo:
		n.onRootInfo(from, m)
	case *JoinRequest:
		n.onJoinRequest(from, m)
	case *Update:
		n.onUpdate(from, m)
	case *UpdateAck:
		if n.coord != nil {
			n.coord.onUpdateAck(from, m)
		}
	case *WhereAmI:
		n.onWhereAmI(from, m)
	case *NotMember:
		n.onNotMember(from, m)
	case *DropReport:
		n.onDropReport(from, m)
	case *Delta:
		n.onDelta(from, m)
	case *DeltaAck:
		if n.coord != nil {
			n.onDeltaAck(from, m)
		}
	case *Snapshot:
		n.onSnapshot(from, m)
	case *SnapshotAck:
		if n.coord != nil {
			n.onSnapshotAck(from, m)
		}
	case *Broadcast:
		n.onBroadcast(from, m)
	case *ForeignTree:
		n.onForeignTree(from, m)
	case *MergeOffer:
		n.onMergeOffer(from, m)
	case *Migrate:
		n.onMigrate(from, m)
	default:
		n.reject(from, "unknown message kind %d", msg.Kind())
	}
	return n.finish()
}

// Broadcast sends payload to every member of the tree exactly once. The
// runtime passes the origin's signed envelope as payload and its hash as id.
// The origin's own delivery is part of the returned Ready.
func (n *Node) Broadcast(now time.Duration, id [32]byte, payload []byte) Ready {
	n.begin(now)
	if !n.dedup.add(id, n.cfg.DedupSize) {
		return n.finish()
	}
	n.rd.Delivered = append(n.rd.Delivered, Delivery{ID: id, Origin: n.self, Payload: payload})
	if n.status != StatusMember && n.status != StatusRoot {
		n.event(EventRejected, n.self.ID, "broadcast while not in a tree: delivered locally only")
		return n.finish()
	}
	b := &Broadcast{ID: id, Origin: n.self, OriginPos: n.pos, Payload: payload}
	if n.status == StatusMember {
		n.send(n.root, b)
	}
	n.forwardDown(b)
	return n.finish()
}

// Leave gives up this node's position for a clean shutdown: the root frees
// it in its next commit instead of waiting for the failure detector. Only a
// node itself may give up its own position. After Leave the core is idle;
// a root simply goes quiet and its successor takes over.
func (n *Node) Leave(now time.Duration) Ready {
	n.begin(now)
	if n.status == StatusMember {
		n.send(n.root, &DropReport{Pos: n.pos, ID: n.self.ID})
	}
	n.status = StatusIdle
	n.join, n.coord, n.replica = nil, nil, nil
	n.children, n.suspects, n.helps = nil, nil, nil
	n.pos, n.size = 0, 0
	n.parent, n.root = Member{}, Member{}
	rd := n.finish()
	rd.NextTick = 1<<63 - 1
	return rd
}

// --- accessors for the monitor ---

// ID returns this node's ID.
func (n *Node) ID() NodeID { return n.self.ID }

// Status returns the node's role.
func (n *Node) Status() Status { return n.status }

// Position returns the node's 1-based position, or 0 when not placed.
func (n *Node) Position() int { return n.pos }

// Size returns the tree size as last heard (exact at the root).
func (n *Node) Size() int { return n.size }

// Epoch returns the newest membership epoch this node knows.
func (n *Node) Epoch() Epoch { return n.epoch }

// TreeID identifies the tree the node is in.
func (n *Node) TreeID() NodeID { return n.treeID }

// Root returns the root as this node knows it.
func (n *Node) Root() Member { return n.root }

// Parent returns the parent, false at the root or when not placed.
func (n *Node) Parent() (Member, bool) { return n.parent, !n.parent.IsZero() }

// Successors returns the nodes entitled to take over the root role, in order.
func (n *Node) Successors() []Member { return slices.Clone(n.succ) }

// MaxChildren returns M.
func (n *Node) MaxChildren() int { return n.m }

// Children returns the children in slot order.
func (n *Node) Children() []Member {
	out := make([]Member, len(n.children))
	for i, c := range n.children {
		out[i] = c.m
	}
	return out
}

// NumChildren returns len(Children()) without allocating.
func (n *Node) NumChildren() int { return len(n.children) }

// Child returns the child in slot i.
func (n *Node) Child(i int) Member { return n.children[i].m }

// String is a one-line status for logs.
func (n *Node) String() string {
	return fmt.Sprintf("%s %s pos=%d/%d epoch=%s tree=%s", n.self.ID, n.status, n.pos, n.size, n.epoch, n.treeID)
}

// --- output helpers ---

func (n *Node) begin(now time.Duration) {
	if now > n.now {
		n.now = now
	}
	clear(n.rd.Messages)
	n.rd.Messages = n.rd.Messages[:0]
	clear(n.rd.Delivered)
	n.rd.Delivered = n.rd.Delivered[:0]
	n.rd.Events = n.rd.Events[:0]
}

func (n *Node) finish() Ready {
	n.rd.NextTick = n.nextWake()
	return n.rd
}

func (n *Node) nextWake() time.Duration {
	t := time.Duration(1<<63 - 1)
	if n.status == StatusMember || n.status == StatusRoot {
		t = min(t, n.nextHB, n.nextMerge)
	}
	if n.join != nil {
		t = min(t, n.join.deadline)
	}
	if c := n.coord; c != nil && c.commitAt != 0 && c.waiting == nil && !n.syncBlocking() {
		t = min(t, c.commitAt)
	}
	if t < n.now {
		t = n.now
	}
	return t
}

func (n *Node) send(to Member, m Message) {
	if to.ID.IsZero() || to.ID == n.self.ID {
		return
	}
	n.rd.Messages = append(n.rd.Messages, Outbound{To: to, Msg: m})
}

func (n *Node) event(k EventKind, peer NodeID, format string, args ...any) {
	n.rd.Events = append(n.rd.Events, Event{Kind: k, Peer: peer, Detail: fmt.Sprintf(format, args...)})
}

func (n *Node) reject(peer NodeID, format string, args ...any) {
	n.event(EventRejected, peer, format, args...)
}

func (n *Node) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(n.rng.Int64N(int64(d)))
}

func (n *Node) addContact(c Member) {
	if c.ID.IsZero() || c.ID == n.self.ID {
		return
	}
	for i, x := range n.contacts {
		if x.ID == c.ID {
			n.contacts[i] = c
			return
		}
	}
	// Never evict: the contacts given at Start are the ones most likely to
	// lead outside this tree, which is what merges need.
	if len(n.contacts) < maxContacts {
		n.contacts = append(n.contacts, c)
	}
}

// Contacts returns the contacts this node uses for re-joins and merge probes.
func (n *Node) Contacts() []Member { return slices.Clone(n.contacts) }

func (n *Node) isSuccessor(id NodeID) bool {
	for _, s := range n.succ {
		if s.ID == id {
			return true
		}
	}
	return false
}

func (n *Node) childIndex(id NodeID) int {
	for i := range n.children {
		if n.children[i].m.ID == id {
			return i
		}
	}
	return -1
}

func (n *Node) rootInfo() *RootInfo {
	// A member cut off from its parent does not advertise a tree it may
	// no longer be part of: joiners would only chase a dead root.
	if (n.status != StatusMember && n.status != StatusRoot) ||
		(n.status == StatusMember && n.now-n.parentHeard > n.cfg.OrphanAfter) {
		return &RootInfo{}
	}
	return &RootInfo{Member: true, TreeID: n.treeID, Root: n.root, Size: n.size, Epoch: n.epoch}
}

// --- broadcast ---

func (n *Node) forwardDown(b *Broadcast) {
	for i := range n.children {
		c := &n.children[i]
		if c.dead || c.m.ID == b.Origin.ID {
			continue
		}
		n.send(c.m, b)
	}
}

func (n *Node) onBroadcast(from NodeID, b *Broadcast) {
	switch {
	case n.status == StatusRoot:
		// A broadcast enters the tree at the root; only a member may inject
		// it, and only as itself at the position it really holds.
		c := n.coord
		if from != b.Origin.ID || b.OriginPos < 2 || b.OriginPos > c.n || c.members[b.OriginPos].ID != from {
			n.reject(from, "broadcast from non-member or wrong origin position %d", b.OriginPos)
			return
		}
	case n.status == StatusMember:
		if from != n.parent.ID {
			n.reject(from, "broadcast from a node that is not my parent")
			return
		}
	default:
		return
	}
	if !n.dedup.add(b.ID, n.cfg.DedupSize) {
		return
	}
	n.rd.Delivered = append(n.rd.Delivered, Delivery{ID: b.ID, Origin: b.Origin, Payload: b.Payload})
	n.forwardDown(b)
}

// dedupCache remembers the last `size` broadcast IDs (FIFO). It starts empty
// and grows on demand, so idle nodes cost nothing.
type dedupCache struct {
	seen map[[32]byte]struct{}
	ring [][32]byte
	next int
}

// add reports whether id is new (and remembers it).
func (d *dedupCache) add(id [32]byte, size int) bool {
	if d.seen == nil {
		d.seen = make(map[[32]byte]struct{}, 4)
	}
	if _, ok := d.seen[id]; ok {
		return false
	}
	if len(d.ring) < size {
		d.ring = append(d.ring, id)
	} else {
		delete(d.seen, d.ring[d.next])
		d.ring[d.next] = id
		d.next = (d.next + 1) % size
	}
	d.seen[id] = struct{}{}
	return true
}
