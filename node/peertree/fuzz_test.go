package peertree_test

import (
	"testing"
	"time"

	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/sim"
)

// FuzzStep feeds arbitrary decoded messages, from every member and from a
// stranger, into the cores of a live 13-node tree (root, successors, inner
// nodes, leaves). The cores must never panic or allocate without bound, and
// a message from a node that is neither root nor parent must never move a
// node or change its tree.
func FuzzStep(f *testing.F) {
	for _, m := range []peertree.Message{
		&peertree.Update{Epoch: 1 << 40, Pos: 3, Size: 1 << 26, Children: make([]peertree.Member, 3)},
		&peertree.Snapshot{Epoch: 1 << 40, Size: 1 << 26, Count: 1 << 25, Index: 1<<25 - 1, Offset: 1<<26 - 1, Members: make([]peertree.Member, 2)},
		&peertree.Delta{Prev: 1, Epoch: 1 << 40, Size: 1 << 26, Changes: []peertree.Placement{{Pos: 1 << 26}}},
		&peertree.DropReport{Pos: -5},
		&peertree.HeartbeatUp{Epoch: 1, Pos: -1},
		&peertree.HeartbeatDown{Epoch: 1 << 50, Pos: 1, Size: -3},
		&peertree.WhereAmI{Pos: 1 << 40},
		&peertree.Broadcast{OriginPos: 1 << 40},
		&peertree.MergeOffer{Size: 1 << 40},
		&peertree.ProbeReq{Pos: -1},
		&peertree.JoinRequest{OldPos: 1 << 40},
		&peertree.SnapshotAck{Index: -1},
		&peertree.DeltaAck{Epoch: 1 << 60, Resync: true},
	} {
		b, err := peertree.EncodeMessage(m)
		if err != nil {
			f.Fatal(err)
		}
		for _, who := range []uint8{0, 1, 2, 5, 12, 13} {
			f.Add(who, uint8(2), b)
		}
	}
	f.Fuzz(func(t *testing.T, from, to uint8, data []byte) {
		msg, err := peertree.DecodeMessage(data)
		if err != nil {
			return
		}
		s := sim.New(sim.Config{Seed: 1, MinLatency: time.Millisecond, MaxLatency: 2 * time.Millisecond,
			Core: peertree.Config{MaxChildren: 3}})
		s.AddNode(nil)
		for i := 1; i < 13; i++ {
			s.AddNode([]int{0})
			s.RunFor(300 * time.Millisecond)
		}
		s.RunFor(2 * time.Second)
		dst := int(to) % 13
		var sender peertree.NodeID
		if int(from)%14 == 13 {
			sender = peertree.NodeID{0xde, 0xad}
		} else {
			sender = s.IDOf(int(from) % 14)
		}
		n := s.Node(dst)
		pos, tree, root := n.Position(), n.TreeID(), n.Root().ID
		par, _ := n.Parent()
		rd := n.Step(s.Now(), sender, msg)
		if sender != root && sender != par.ID && (n.Position() != pos || n.TreeID() != tree) {
			t.Fatalf("%s from %s (neither root nor parent) moved node %d from %d to %d", msg.Kind(), sender, dst, pos, n.Position())
		}
		s.Deliver(dst, rd)
		s.RunFor(5 * time.Second)
	})
}
