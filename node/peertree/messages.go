package peertree

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Kind identifies a message type on the wire.
type Kind uint8

// Message kinds. The numbers are part of the wire format: never reuse one.
const (
	KindHeartbeatDown Kind = iota + 1
	KindHeartbeatUp
	KindNotYourParent
	KindNotYourChild
	KindProbe
	KindProbeAck
	KindProbeReq
	KindProbeResult
	KindRootQuery
	KindRootInfo
	KindJoinRequest
	KindUpdate
	KindUpdateAck
	KindWhereAmI
	KindNotMember
	KindDropReport
	KindDelta
	KindDeltaAck
	KindSnapshot
	KindSnapshotAck
	KindBroadcast
	KindForeignTree
	KindMergeOffer
	KindMigrate
	kindEnd
)

var kindNames = [...]string{"", "HeartbeatDown", "HeartbeatUp", "NotYourParent", "NotYourChild",
	"Probe", "ProbeAck", "ProbeReq", "ProbeResult", "RootQuery", "RootInfo", "JoinRequest",
	"Update", "UpdateAck", "WhereAmI", "NotMember", "DropReport", "Delta", "DeltaAck",
	"Snapshot", "SnapshotAck", "Broadcast", "ForeignTree", "MergeOffer", "Migrate"}

func (k Kind) String() string {
	if k > 0 && k < kindEnd {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// NumKinds is one more than the largest Kind, for tables indexed by Kind.
const NumKinds = int(kindEnd)

// Message is one protocol message. The runtime wraps it in a signed
// envelope; the core only sees the authenticated sender's NodeID.
type Message interface {
	Kind() Kind
}

// HeartbeatDown goes parent → child every H and carries the view the child
// may adopt from its parent (root, successors, tree, epoch, size).
type HeartbeatDown struct {
	_          struct{} `cbor:",toarray"`
	Epoch      Epoch
	TreeID     NodeID
	Size       int
	Pos        int // the sender's (parent's) position
	Root       Member
	Successors []Member
}

// HeartbeatUp goes child → parent every H.
type HeartbeatUp struct {
	_     struct{} `cbor:",toarray"`
	Epoch Epoch
	Pos   int // the position the sender believes it holds
}

// NotYourParent answers a HeartbeatUp from a node that is not our child.
type NotYourParent struct {
	_     struct{} `cbor:",toarray"`
	Epoch Epoch
}

// NotYourChild answers a HeartbeatDown from a node that is not our parent.
type NotYourChild struct {
	_     struct{} `cbor:",toarray"`
	Epoch Epoch
}

// Probe asks the receiver whether it is alive and still holds position
// Pos of tree TreeID; liveness is always about a position, never just a key.
type Probe struct {
	_      struct{} `cbor:",toarray"`
	Addr   string   // where to send the ProbeAck
	TreeID NodeID
	Pos    int
	Epoch  Epoch // the prober's view; a receiver behind it still holds Pos
}

// ProbeAck answers a Probe. Holds is false when the sender is alive but
// no longer at the probed position: it gives that slot up itself.
type ProbeAck struct {
	_     struct{} `cbor:",toarray"`
	Holds bool
}

// ProbeReq asks a helper to probe Target at Pos on the requester's behalf
// (the indirect, second-path probe of SWIM).
type ProbeReq struct {
	_      struct{} `cbor:",toarray"`
	Addr   string
	Target Member
	TreeID NodeID
	Pos    int
	Epoch  Epoch
}

// ProbeResult reports the helper's verdict on Target.
type ProbeResult struct {
	_      struct{} `cbor:",toarray"`
	Target NodeID
	Alive  bool
}

// RootQuery asks any node which tree it belongs to.
type RootQuery struct {
	_    struct{} `cbor:",toarray"`
	Addr string
}

// RootInfo describes the responder's tree (Member false: it has none yet).
type RootInfo struct {
	_      struct{} `cbor:",toarray"`
	Member bool
	TreeID NodeID
	Root   Member
	Size   int
	Epoch  Epoch
}

// JoinRequest asks a root for a position. OldTree/OldPos let a node that is
// re-joining free the position it may still hold.
type JoinRequest struct {
	_       struct{} `cbor:",toarray"`
	Addr    string
	OldTree NodeID
	OldPos  int
}

// Update is the root's authoritative statement of one node's whole
// neighbourhood at Epoch. It is absolute (not a delta), so the newest one
// wins and older ones are rejected as stale.
type Update struct {
	_          struct{} `cbor:",toarray"`
	Epoch      Epoch
	TreeID     NodeID
	Pos        int
	Size       int
	Root       Member
	Parent     Member
	Children   []Member
	Successors []Member
}

// UpdateAck confirms an Update was applied (or already had been).
type UpdateAck struct {
	_     struct{} `cbor:",toarray"`
	Epoch Epoch
}

// WhereAmI asks the root to re-send the sender's state.
type WhereAmI struct {
	_    struct{} `cbor:",toarray"`
	Addr string
	Pos  int
}

// NotMember tells the sender it holds no position here; Hint names the tree
// it should join instead.
type NotMember struct {
	_    struct{} `cbor:",toarray"`
	Hint RootInfo
}

// DropReport is a parent telling the root that its child at Pos is dead.
type DropReport struct {
	_   struct{} `cbor:",toarray"`
	Pos int
	ID  NodeID
}

// Placement is one slot of the root's position table.
type Placement struct {
	_   struct{} `cbor:",toarray"`
	Pos int
	M   Member // zero: the slot was vacated
}

// Delta replicates one committed change set to the root's successors.
type Delta struct {
	_       struct{} `cbor:",toarray"`
	Prev    Epoch
	Epoch   Epoch
	Size    int
	Changes []Placement
}

// DeltaAck confirms a Delta; Resync asks for a full snapshot instead.
type DeltaAck struct {
	_      struct{} `cbor:",toarray"`
	Epoch  Epoch
	Resync bool
}

// Snapshot carries one chunk of the root's position table to a new successor.
type Snapshot struct {
	_       struct{} `cbor:",toarray"`
	Epoch   Epoch
	Size    int
	Index   int // chunk number
	Count   int // chunks in this snapshot
	Offset  int // position of Members[0]
	Members []Member
}

// SnapshotAck confirms one chunk.
type SnapshotAck struct {
	_     struct{} `cbor:",toarray"`
	Epoch Epoch
	Index int
}

// Broadcast is application data flooded along tree edges. Payload is the
// origin's signed envelope (opaque here), ID its hash; forwarders add nothing.
type Broadcast struct {
	_         struct{} `cbor:",toarray"`
	ID        [32]byte
	Origin    Member
	OriginPos int
	Payload   []byte
}

// ForeignTree is a member telling its root it met another tree.
type ForeignTree struct {
	_    struct{} `cbor:",toarray"`
	Info RootInfo
}

// MergeOffer is a root telling another root its tree's identity and size.
// The smaller tree (ties: lower TreeID wins) migrates into the larger.
type MergeOffer struct {
	_      struct{} `cbor:",toarray"`
	Addr   string
	TreeID NodeID
	Size   int
}

// Migrate travels down tree edges: re-join into Root's tree, or (Root zero)
// re-join on your own because the sender lost the tree.
type Migrate struct {
	_      struct{} `cbor:",toarray"`
	TreeID NodeID
	Root   Member
}

func (*HeartbeatDown) Kind() Kind { return KindHeartbeatDown }
func (*HeartbeatUp) Kind() Kind   { return KindHeartbeatUp }
func (*NotYourParent) Kind() Kind { return KindNotYourParent }
func (*NotYourChild) Kind() Kind  { return KindNotYourChild }
func (*Probe) Kind() Kind         { return KindProbe }
func (*ProbeAck) Kind() Kind      { return KindProbeAck }
func (*ProbeReq) Kind() Kind      { return KindProbeReq }
func (*ProbeResult) Kind() Kind   { return KindProbeResult }
func (*RootQuery) Kind() Kind     { return KindRootQuery }
func (*RootInfo) Kind() Kind      { return KindRootInfo }
func (*JoinRequest) Kind() Kind   { return KindJoinRequest }
func (*Update) Kind() Kind        { return KindUpdate }
func (*UpdateAck) Kind() Kind     { return KindUpdateAck }
func (*WhereAmI) Kind() Kind      { return KindWhereAmI }
func (*NotMember) Kind() Kind     { return KindNotMember }
func (*DropReport) Kind() Kind    { return KindDropReport }
func (*Delta) Kind() Kind         { return KindDelta }
func (*DeltaAck) Kind() Kind      { return KindDeltaAck }
func (*Snapshot) Kind() Kind      { return KindSnapshot }
func (*SnapshotAck) Kind() Kind   { return KindSnapshotAck }
func (*Broadcast) Kind() Kind     { return KindBroadcast }
func (*ForeignTree) Kind() Kind   { return KindForeignTree }
func (*MergeOffer) Kind() Kind    { return KindMergeOffer }
func (*Migrate) Kind() Kind       { return KindMigrate }

// NewMessage returns an empty message of kind k, or nil for unknown kinds.
func NewMessage(k Kind) Message {
	switch k {
	case KindHeartbeatDown:
		return new(HeartbeatDown)
	case KindHeartbeatUp:
		return new(HeartbeatUp)
	case KindNotYourParent:
		return new(NotYourParent)
	case KindNotYourChild:
		return new(NotYourChild)
	case KindProbe:
		return new(Probe)
	case KindProbeAck:
		return new(ProbeAck)
	case KindProbeReq:
		return new(ProbeReq)
	case KindProbeResult:
		return new(ProbeResult)
	case KindRootQuery:
		return new(RootQuery)
	case KindRootInfo:
		return new(RootInfo)
	case KindJoinRequest:
		return new(JoinRequest)
	case KindUpdate:
		return new(Update)
	case KindUpdateAck:
		return new(UpdateAck)
	case KindWhereAmI:
		return new(WhereAmI)
	case KindNotMember:
		return new(NotMember)
	case KindDropReport:
		return new(DropReport)
	case KindDelta:
		return new(Delta)
	case KindDeltaAck:
		return new(DeltaAck)
	case KindSnapshot:
		return new(Snapshot)
	case KindSnapshotAck:
		return new(SnapshotAck)
	case KindBroadcast:
		return new(Broadcast)
	case KindForeignTree:
		return new(ForeignTree)
	case KindMergeOffer:
		return new(MergeOffer)
	case KindMigrate:
		return new(Migrate)
	}
	return nil
}

// Errors returned by the codec.
var (
	ErrUnknownKind = errors.New("peertree: unknown message kind")
	ErrMalformed   = errors.New("peertree: malformed message")
)

// MaxMessageSize bounds what DecodeMessage accepts (a snapshot chunk of 4096
// members with 255-byte addresses is ~1.2 MB).
const MaxMessageSize = 4 << 20

type frame struct {
	_    struct{} `cbor:",toarray"`
	Kind Kind
	Body cbor.RawMessage
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:   8,
		MaxArrayElements:  65536,
		MaxMapPairs:       16,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// EncodeMessage encodes m as deterministic CBOR: [kind, body].
func EncodeMessage(m Message) ([]byte, error) {
	if m == nil || NewMessage(m.Kind()) == nil {
		return nil, ErrUnknownKind
	}
	body, err := encMode.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("peertree: encode %s: %w", m.Kind(), err)
	}
	out, err := encMode.Marshal(frame{Kind: m.Kind(), Body: body})
	if err != nil {
		return nil, fmt.Errorf("peertree: encode frame: %w", err)
	}
	return out, nil
}

// DecodeMessage decodes bytes produced by EncodeMessage. It checks structure
// only; the core validates meaning (positions, authority, epochs) in Step.
func DecodeMessage(b []byte) (Message, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	var f frame
	if err := decMode.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%w: frame: %v", ErrMalformed, err)
	}
	m := NewMessage(f.Kind)
	if m == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownKind, f.Kind)
	}
	if err := decMode.Unmarshal(f.Body, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, f.Kind, err)
	}
	return m, nil
}
