package peertree

import "testing"

func TestPositionArithmetic(t *testing.T) {
	for _, m := range []int{2, 3, 10} {
		for p := 1; p < 5000; p++ {
			first := FirstChildPos(p, m)
			for c := first; c < first+m; c++ {
				if ParentPos(c, m) != p {
					t.Fatalf("m=%d: parent(%d)=%d want %d", m, c, ParentPos(c, m), p)
				}
				if ChildSlot(c, m) != c-first {
					t.Fatalf("m=%d: slot(%d)=%d want %d", m, c, ChildSlot(c, m), c-first)
				}
				if Depth(c, m) != Depth(p, m)+1 {
					t.Fatalf("m=%d: depth(%d)", m, c)
				}
			}
		}
	}
	if ParentPos(1, 10) != 0 || Depth(1, 10) != 0 {
		t.Fatal("root has no parent")
	}
	// Depths for M=10: 1 | 2..11 | 12..111 | 112..1111
	for p, d := range map[int]int{11: 1, 12: 2, 111: 2, 112: 3, 1111: 3, 1112: 4, 1_000_000: 6} {
		if Depth(p, 10) != d {
			t.Errorf("depth(%d)=%d want %d", p, Depth(p, 10), d)
		}
	}
	if ChildCount(1, 10, 5) != 4 || ChildCount(2, 10, 11) != 0 || ChildCount(2, 10, 15) != 4 || ChildCount(2, 10, 100) != 10 {
		t.Fatal("ChildCount")
	}
	if AncestorAtDepth(1_000_000, 10, 1) != ParentPos(ParentPos(ParentPos(ParentPos(ParentPos(1_000_000, 10), 10), 10), 10), 10) {
		t.Fatal("AncestorAtDepth")
	}
}
