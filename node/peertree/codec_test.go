package peertree

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func sampleMessages() []Message {
	a := Member{ID: NodeID{1, 2, 3}, Addr: "10.0.0.1:4000"}
	b := Member{ID: NodeID{9}, Addr: "[::1]:1"}
	info := RootInfo{Member: true, TreeID: NodeID{7}, Root: a, Size: 12345, Epoch: Epoch(3<<32 | 17)}
	return []Message{
		&HeartbeatDown{Epoch: 5, TreeID: NodeID{8}, Size: 40, Pos: 3, Root: a, Successors: []Member{a, b}},
		&HeartbeatUp{Epoch: 5, Pos: 31},
		&NotYourParent{Epoch: 2},
		&NotYourChild{Epoch: 2},
		&Probe{Addr: "x", TreeID: NodeID{2}, Pos: 5, Epoch: 7},
		&ProbeAck{Holds: true},
		&ProbeReq{Addr: "y", Target: b, TreeID: NodeID{2}, Pos: 5, Epoch: 7},
		&ProbeResult{Target: NodeID{4}, Alive: true},
		&RootQuery{Addr: "z"},
		&info,
		&JoinRequest{Addr: "j", OldTree: NodeID{5}, OldPos: 77},
		&Update{Epoch: 9, TreeID: NodeID{1}, Pos: 2, Size: 12, Root: a, Parent: a, Children: []Member{b}, Successors: []Member{b}},
		&UpdateAck{Epoch: 9},
		&WhereAmI{Addr: "w", Pos: 4},
		&NotMember{Hint: info},
		&DropReport{Pos: 6, ID: NodeID{6}},
		&Delta{Prev: 8, Epoch: 9, Size: 12, Changes: []Placement{{Pos: 12, M: b}, {Pos: 13}}},
		&DeltaAck{Epoch: 9, Resync: true},
		&Snapshot{Epoch: 9, Size: 2, Index: 0, Count: 1, Offset: 1, Members: []Member{a, b}},
		&SnapshotAck{Epoch: 9, Index: 0},
		&Broadcast{ID: [32]byte{0xaa}, Origin: b, OriginPos: 5, Payload: []byte("signed envelope bytes")},
		&ForeignTree{Info: info},
		&MergeOffer{Addr: "m", TreeID: NodeID{3}, Size: 10},
		&Migrate{TreeID: NodeID{3}, Root: a},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	msgs := sampleMessages()
	if len(msgs) != NumKinds-1 {
		t.Fatalf("sample covers %d kinds, want %d", len(msgs), NumKinds-1)
	}
	for _, m := range msgs {
		b, err := EncodeMessage(m)
		if err != nil {
			t.Fatalf("%s: %v", m.Kind(), err)
		}
		got, err := DecodeMessage(b)
		if err != nil {
			t.Fatalf("%s: %v", m.Kind(), err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", m.Kind(), got, m)
		}
		b2, _ := EncodeMessage(got)
		if !bytes.Equal(b, b2) {
			t.Fatalf("%s: encoding not deterministic", m.Kind())
		}
	}
}

func TestCodecRejects(t *testing.T) {
	if _, err := DecodeMessage([]byte{0x82, 0x18, 0xff, 0x40}); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("unknown kind: %v", err)
	}
	if _, err := DecodeMessage([]byte{0xff}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: %v", err)
	}
	b, _ := EncodeMessage(&HeartbeatUp{Epoch: 1, Pos: 2})
	if _, err := DecodeMessage(b[:len(b)-1]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
	if _, err := EncodeMessage(nil); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("nil: %v", err)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		b, err := EncodeMessage(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x82, 0x01, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMessage(data)
		if err != nil {
			return
		}
		b, err := EncodeMessage(m)
		if err != nil {
			t.Fatalf("decoded %s does not re-encode: %v", m.Kind(), err)
		}
		m2, err := DecodeMessage(b)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoded %s does not round-trip: %v", m.Kind(), err)
		}
	})
}
