package peertree_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/sim"
)

// seqTree builds a tree of n nodes with max children m, joining one at a
// time so that node i ends at position i+1.
func seqTree(t *testing.T, n, m int, seed uint64, onSend func(from, to int, msg peertree.Message)) *sim.Sim {
	t.Helper()
	s := sim.New(sim.Config{Seed: seed, MinLatency: 5 * time.Millisecond, MaxLatency: 20 * time.Millisecond,
		Core: peertree.Config{MaxChildren: m}, OnSend: onSend, Encode: true})
	s.AddNode(nil)
	s.RunFor(100 * time.Millisecond)
	for i := 1; i < n; i++ {
		s.AddNode([]int{0})
		s.RunFor(400 * time.Millisecond)
	}
	mustComplete(t, s, n, 10*time.Second)
	for i := 0; i < n; i++ {
		if p := s.Node(i).Position(); p != i+1 {
			t.Fatalf("node %d at position %d, want %d", i, p, i+1)
		}
	}
	return s
}

func mustComplete(t *testing.T, s *sim.Sim, size int, limit time.Duration) time.Duration {
	t.Helper()
	var r sim.Report
	d := s.RunWhile(250*time.Millisecond, limit, func() bool { r = s.Check(); return !r.Complete })
	if !r.Complete || r.Size != size {
		t.Fatalf("after %v: want one complete tree of %d, got %v", d, size, r)
	}
	return d
}

func atPos(s *sim.Sim, p int) int {
	for i := 0; i < s.Len(); i++ {
		if s.Alive(i) && s.Node(i).Position() == p && s.Node(i).Status() != peertree.StatusJoining {
			return i
		}
	}
	return -1
}

// repairBound is the documented worst case for one round of repair:
// suspicion after SuspectAfter+½ silent beats, ConfirmRounds probe rounds,
// RepairGather, plus a round trip; two rounds cover a dead node whose
// parent died too. Generous: 30 heartbeats.
const repairBound = 30 * time.Second

func TestOneNodeTree(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	s.AddNode(nil)
	n := s.Node(0)
	if n.Status() != peertree.StatusRoot || n.Size() != 1 || n.Position() != 1 {
		t.Fatalf("lonely node: %v", n)
	}
	tr := s.Broadcast(0, []byte("me"))
	if tr.Count != 1 || tr.Msgs != 0 {
		t.Fatalf("one-node broadcast: %+v", tr)
	}
	s.RunFor(time.Minute)
	mustComplete(t, s, 1, time.Second)
}

func TestUnreachableContactsFoundOwnTree(t *testing.T) {
	s := sim.New(sim.Config{Seed: 2, MinLatency: time.Millisecond, MaxLatency: time.Millisecond})
	s.AddNode(nil)
	s.Kill(0)
	s.AddNode([]int{0})
	s.RunFor(time.Minute)
	if n := s.Node(1); n.Status() != peertree.StatusRoot || n.Size() != 1 {
		t.Fatalf("node that reaches nobody: %v", n)
	}
}

func TestTwoNodeTree(t *testing.T) {
	t.Run("root dies", func(t *testing.T) {
		s := seqTree(t, 2, 10, 3, nil)
		s.Kill(0)
		d := mustComplete(t, s, 1, repairBound)
		if s.Node(1).Status() != peertree.StatusRoot {
			t.Fatalf("survivor: %v", s.Node(1))
		}
		t.Logf("successor took over in %v", d)
	})
	t.Run("child dies", func(t *testing.T) {
		s := seqTree(t, 2, 10, 4, nil)
		s.Kill(1)
		mustComplete(t, s, 1, repairBound)
	})
}

func TestRepairCases(t *testing.T) {
	// M=3, 13 nodes: root 1 | 2 3 4 | 5..13 (13 is the last node, child of 4).
	cases := []struct {
		name   string
		kill   []int // positions
		mover  int   // position of the node expected to fill the first hole
		target int
	}{
		{"leaf", []int{7}, 13, 7},
		{"inner", []int{3}, 13, 3},
		{"last", []int{13}, 0, 0},
		{"root", []int{1}, 0, 0},
		{"root and first successor", []int{1, 2}, 0, 0},
		{"inner with a dead child", []int{3, 9}, 0, 0},
		{"parent of the last node", []int{4}, 13, 4},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := seqTree(t, 13, 3, uint64(10+ci), nil)
			mover := -1
			if tc.mover > 0 {
				mover = atPos(s, tc.mover)
			}
			for _, p := range tc.kill {
				s.Kill(atPos(s, p))
			}
			d := mustComplete(t, s, 13-len(tc.kill), repairBound)
			if mover >= 0 && s.Node(mover).Position() != tc.target {
				t.Fatalf("last node is at %d, want %d", s.Node(mover).Position(), tc.target)
			}
			tr := s.Broadcast(atPos(s, 13-len(tc.kill)), []byte("after repair"))
			s.RunFor(time.Second)
			if tr.Count != 13-len(tc.kill) || tr.Dups != 0 {
				t.Fatalf("broadcast after repair: %d delivered, %d dups", tr.Count, tr.Dups)
			}
			t.Logf("repaired in %v", d)
		})
	}
}

func TestLeave(t *testing.T) {
	s := seqTree(t, 13, 3, 40, nil)
	i := atPos(s, 5)
	rd := s.Node(i).Leave(s.Now())
	if len(rd.Messages) != 1 || rd.Messages[0].Msg.Kind() != peertree.KindDropReport {
		t.Fatalf("leave sent %v", rd.Messages)
	}
	s.Deliver(i, rd)
	s.Kill(i)
	// Freed by the root's next commit, long before the detector would fire.
	d := mustComplete(t, s, 12, 5*time.Second)
	t.Logf("left and repaired in %v", d)
}

func rejected(rd peertree.Ready, substr string) bool {
	for _, e := range rd.Events {
		if e.Kind == peertree.EventRejected && strings.Contains(e.Detail, substr) {
			return true
		}
	}
	return false
}

func sent(rd peertree.Ready, k peertree.Kind) bool {
	return slices.ContainsFunc(rd.Messages, func(o peertree.Outbound) bool { return o.Msg.Kind() == k })
}

func TestForgedMembershipMessagesRejected(t *testing.T) {
	// Capture real Updates so we can replay them later.
	var captured []*peertree.Update
	var capturedTo []int
	s := seqTree(t, 13, 3, 20, func(from, to int, m peertree.Message) {
		if u, ok := m.(*peertree.Update); ok {
			captured = append(captured, u)
			capturedTo = append(capturedTo, to)
		}
	})
	root := s.Node(0)
	now := s.Now()
	attacker := s.MemberOf(8) // position 9, a leaf under position 3
	victim := s.Node(5)       // position 6

	t.Run("move-here from a non-root", func(t *testing.T) {
		rd := s.Node(12).Step(now, attacker.ID, &peertree.Update{Epoch: root.Epoch() + 5, TreeID: root.TreeID(),
			Pos: 2, Size: 13, Root: attacker, Parent: attacker, Children: []peertree.Member{s.MemberOf(4), s.MemberOf(5), s.MemberOf(6)}})
		if !rejected(rd, "not my root") || s.Node(12).Position() != 13 {
			t.Fatalf("forged move accepted: %v %v", rd.Events, s.Node(12))
		}
	})
	t.Run("root-died takeover from a non-successor", func(t *testing.T) {
		e := peertree.Epoch(uint64(root.Epoch().Term()+1) << 32)
		rd := victim.Step(now, attacker.ID, &peertree.Update{Epoch: e, TreeID: peertree.NodeID{1}, Pos: 6, Size: 13,
			Root: attacker, Parent: attacker})
		if !rejected(rd, "not my root") || victim.Root().ID != root.ID() {
			t.Fatalf("forged takeover accepted: %v", rd.Events)
		}
	})
	t.Run("new root claimed in a heartbeat from a non-parent", func(t *testing.T) {
		rd := victim.Step(now, attacker.ID, &peertree.HeartbeatDown{Epoch: root.Epoch() + 100, TreeID: peertree.NodeID{1},
			Size: 13, Pos: 2, Root: attacker})
		if victim.Root().ID != root.ID() || !sent(rd, peertree.KindNotYourChild) {
			t.Fatalf("heartbeat from a stranger changed the root")
		}
	})
	t.Run("replayed old placement", func(t *testing.T) {
		// The first Update position 2 ever got is stale now: it has had
		// children added since.
		var old *peertree.Update
		for i, u := range captured {
			if capturedTo[i] == 1 {
				old = u
				break
			}
		}
		n := s.Node(1)
		before := n.Children()
		rd := n.Step(now, root.ID(), old)
		if !rejected(rd, "stale") || len(n.Children()) != len(before) {
			t.Fatalf("replayed update not rejected: %v", rd.Events)
		}
	})
	t.Run("drop report from a node that is not the parent", func(t *testing.T) {
		rd := root.Step(now, attacker.ID, &peertree.DropReport{Pos: 6, ID: victim.ID()})
		if !rejected(rd, "not its parent") {
			t.Fatalf("forged drop report accepted: %v", rd.Events)
		}
		rd = root.Step(now, s.MemberOf(1).ID, &peertree.DropReport{Pos: 6, ID: attacker.ID})
		if !rejected(rd, "stale") {
			t.Fatalf("drop report naming the wrong node accepted: %v", rd.Events)
		}
	})
	t.Run("migrate from a non-parent", func(t *testing.T) {
		rd := victim.Step(now, attacker.ID, &peertree.Migrate{TreeID: peertree.NodeID{9}, Root: attacker})
		if !rejected(rd, "not my parent") || victim.Status() != peertree.StatusMember {
			t.Fatalf("forged migrate accepted")
		}
	})
	t.Run("replica traffic from a non-root", func(t *testing.T) {
		succ := s.Node(1)
		rd := succ.Step(now, attacker.ID, &peertree.Delta{Prev: root.Epoch(), Epoch: root.Epoch() + 1, Size: 1})
		if !rejected(rd, "not my root") {
			t.Fatalf("forged delta accepted")
		}
		rd = succ.Step(now, attacker.ID, &peertree.Snapshot{Epoch: root.Epoch() + 1, Size: 1, Count: 1, Offset: 1, Members: []peertree.Member{attacker}})
		if !rejected(rd, "not my root") {
			t.Fatalf("forged snapshot accepted")
		}
	})
	t.Run("position claims", func(t *testing.T) {
		stranger := peertree.NodeID{0xee}
		rd := root.Step(now, stranger, &peertree.WhereAmI{Pos: 6})
		if sent(rd, peertree.KindUpdate) || !sent(rd, peertree.KindNotMember) {
			t.Fatalf("root handed position 6 to a stranger")
		}
		rd = s.Node(1).Step(now, stranger, &peertree.HeartbeatUp{Epoch: root.Epoch(), Pos: 6})
		if !sent(rd, peertree.KindNotYourParent) {
			t.Fatalf("parent accepted a stranger as child")
		}
		rd = root.Step(now, attacker.ID, &peertree.Broadcast{ID: [32]byte{1}, Origin: attacker, OriginPos: 6, Payload: []byte("x")})
		if !rejected(rd, "origin position") || len(rd.Delivered) != 0 {
			t.Fatalf("broadcast with a false origin position accepted")
		}
	})
	// The tree is untouched by all of the above.
	s.RunFor(10 * time.Second)
	mustComplete(t, s, 13, time.Second)
}

// A node that restarts and re-joins before anyone noticed it died must not
// keep its old position alive: liveness is per position, and the node itself
// answers "not mine" for the old slot. Covers the tricky case where the new
// position is under the same parent (the root) as the old one.
func TestRestartedNodeGivesUpOldSlot(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n, m, p int
	}{{"same parent", 5, 10, 3}, {"other parent", 13, 3, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			s := seqTree(t, tc.n, tc.m, 30, nil)
			i := atPos(s, tc.p)
			s.Kill(i)
			s.RunFor(200 * time.Millisecond)
			s.Restart(i, []int{0})
			d := mustComplete(t, s, tc.n, repairBound)
			t.Logf("old slot released and tree complete in %v (node now at %d)", d, s.Node(i).Position())
		})
	}
}
