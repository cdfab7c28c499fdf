package peertree

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"time"
)

// NodeID is a node's Ed25519 public key. The runtime authenticates every
// message, so a NodeID handed to Step is the proven sender.
type NodeID [32]byte

// String returns a short hex prefix, enough for logs.
func (id NodeID) String() string { return hex.EncodeToString(id[:6]) }

// IsZero reports whether id is unset.
func (id NodeID) IsZero() bool { return id == NodeID{} }

// Less orders IDs bytewise; used for deterministic tie-breaks.
func (id NodeID) Less(o NodeID) bool { return bytes.Compare(id[:], o[:]) < 0 }

// Member is a node as the tree knows it: its key and an opaque address the
// runtime knows how to dial. The core carries Addr around but never parses it.
type Member struct {
	_    struct{} `cbor:",toarray"`
	ID   NodeID
	Addr string
}

// IsZero reports whether m is the empty member (an unoccupied slot).
func (m Member) IsZero() bool { return m.ID.IsZero() }

// Epoch numbers membership views. The high 32 bits are the term (bumped when
// a successor takes over the root role, so anything the new root says beats
// anything the old one said), the low 32 bits count changes within a term.
type Epoch uint64

// Term returns the root term of e.
func (e Epoch) Term() uint32 { return uint32(e >> 32) }

// Seq returns the change counter of e within its term.
func (e Epoch) Seq() uint32 { return uint32(e) }

func (e Epoch) String() string { return fmt.Sprintf("%d.%d", e.Term(), e.Seq()) }

func newTermEpoch(term uint32) Epoch { return Epoch(uint64(term) << 32) }

// treeIDFor derives a tree identity from the root that founded it (or took it
// over) and the epoch at which it did, so a successor that takes over during a
// partition creates a distinguishable tree that merges back on heal.
func treeIDFor(root NodeID, e Epoch) NodeID {
	var b [40]byte
	copy(b[:], root[:])
	binary.BigEndian.PutUint64(b[32:], uint64(e))
	return sha256.Sum256(b[:])
}

// Status is a node's role in its tree.
type Status uint8

const (
	StatusIdle    Status = iota // Start not called yet
	StatusJoining               // looking for a tree or waiting for placement
	StatusMember                // placed at a position > 1
	StatusRoot                  // position 1: serialises all membership changes
)

func (s Status) String() string {
	switch s {
	case StatusIdle:
		return "idle"
	case StatusJoining:
		return "joining"
	case StatusMember:
		return "member"
	case StatusRoot:
		return "root"
	}
	return "unknown"
}

// Config configures one core. Zero fields take the documented defaults.
type Config struct {
	Self           Member        // this node; Self.ID is required
	MaxChildren    int           // M, default 10
	Heartbeat      time.Duration // H, default 1s
	SuspectAfter   int           // silent heartbeats before suspicion, default 3
	ConfirmRounds  int           // probe rounds (one per H) before a suspect is dead, default 3
	IndirectProbes int           // helpers asked per probe round (k), default 3
	JoinBatch      time.Duration // root collects joins this long, default 200ms
	RepairGather   time.Duration // root collects drop reports this long, default 1H
	JoinTimeout    time.Duration // joiner re-asks after this, default 5H
	OrphanAfter    time.Duration // silent parent → ask root, default 12H
	RejoinAfter    time.Duration // silent parent and root → rejoin, default 40H
	MergeProbe     time.Duration // how often a node asks a contact for its tree, default 10s
	Replicas       int           // positions 2..1+Replicas keep the root's table, default 2
	DedupSize      int           // broadcast IDs remembered, default 4096
	SnapshotChunk  int           // members per snapshot message, default 4096
	MaxUpdateTries int           // root gives up re-sending an Update after this, default 12
	// Rand is the only source of randomness (probe helpers, jitter). If nil a
	// generator seeded from Self.ID is used, so runs stay reproducible.
	Rand *rand.Rand
}

func (c *Config) setDefaults() {
	if c.MaxChildren <= 1 {
		c.MaxChildren = 10
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = time.Second
	}
	if c.SuspectAfter <= 0 {
		c.SuspectAfter = 3
	}
	if c.ConfirmRounds <= 0 {
		c.ConfirmRounds = 3
	}
	if c.IndirectProbes <= 0 {
		c.IndirectProbes = 3
	}
	if c.JoinBatch <= 0 {
		c.JoinBatch = 200 * time.Millisecond
	}
	if c.RepairGather <= 0 {
		c.RepairGather = c.Heartbeat
	}
	if c.JoinTimeout <= 0 {
		c.JoinTimeout = 5 * c.Heartbeat
	}
	if c.OrphanAfter <= 0 {
		c.OrphanAfter = 12 * c.Heartbeat
	}
	if c.RejoinAfter <= 0 {
		c.RejoinAfter = 40 * c.Heartbeat
	}
	if c.MergeProbe <= 0 {
		c.MergeProbe = 10 * time.Second
	}
	if c.Replicas <= 0 {
		c.Replicas = 2
	}
	if c.Replicas > c.MaxChildren {
		c.Replicas = c.MaxChildren
	}
	if c.DedupSize <= 0 {
		c.DedupSize = 4096
	}
	if c.SnapshotChunk <= 0 {
		c.SnapshotChunk = 4096
	}
	if c.MaxUpdateTries <= 0 {
		c.MaxUpdateTries = 12
	}
	if c.Rand == nil {
		a := binary.LittleEndian.Uint64(c.Self.ID[0:8])
		b := binary.LittleEndian.Uint64(c.Self.ID[8:16])
		c.Rand = rand.New(rand.NewPCG(a, b))
	}
}

// Outbound is one message the runtime must send.
type Outbound struct {
	To  Member
	Msg Message
}

// Delivery is a broadcast handed to the application exactly once.
type Delivery struct {
	ID      [32]byte
	Origin  Member
	Payload []byte
}

// EventKind classifies log-worthy things the core did or refused.
type EventKind uint8

const (
	EventRejected   EventKind = iota + 1 // a message was refused (unauthorised, stale, invalid)
	EventJoined                          // placed in a tree
	EventBecameRoot                      // founded a one-node tree
	EventTakeover                        // successor took over a dead root
	EventSuspect                         // a neighbour went silent; probing
	EventDead                            // a neighbour was confirmed dead
	EventCommit                          // root committed a new epoch
	EventMerge                           // this tree is migrating into a larger one
	EventRejoin                          // lost the tree; joining again
)

func (k EventKind) String() string {
	switch k {
	case EventRejected:
		return "rejected"
	case EventJoined:
		return "joined"
	case EventBecameRoot:
		return "became-root"
	case EventTakeover:
		return "takeover"
	case EventSuspect:
		return "suspect"
	case EventDead:
		return "dead"
	case EventCommit:
		return "commit"
	case EventMerge:
		return "merge"
	case EventRejoin:
		return "rejoin"
	}
	return "unknown"
}

// Event is a log line for the runtime's monitor.
type Event struct {
	Kind   EventKind
	Peer   NodeID
	Detail string
}

func (e Event) String() string {
	return fmt.Sprintf("%s peer=%s %s", e.Kind, e.Peer, e.Detail)
}

// Ready is what one call into the core produced. Its slices belong to the
// core and are only valid until the next call on the same Node (the runtime
// sends or copies them first); this keeps a million simulated cores cheap.
type Ready struct {
	Messages  []Outbound
	Delivered []Delivery
	Events    []Event
	// NextTick is when the core wants Tick called next (absolute, same clock
	// as now). Calling earlier is harmless.
	NextTick time.Duration
}
