package registry

import (
	"context"
	"testing"
	"time"
)

// TestJoinerCatchesUp: with an Interval far longer than the test, the
// members broadcast their entries only when they join, before the joiner
// exists; the joiner can learn them only from the dump it fetches on
// joining, and every one of them verifies.
func TestJoinerCatchesUp(t *testing.T) {
	slow := nodeOpts{interval: time.Hour, ttl: 3 * time.Hour, maxTTL: 3 * time.Hour}
	a := startNode(t, slow)
	b := startNode(t, slow, a)
	c := startNode(t, slow, a)
	cl := newClient(t)
	waitAll(t, cl, []*testNode{a, b, c}, "registry", []*testNode{a, b, c})

	joinedAt := nowMs()
	d := startNode(t, slow, a)
	deadline := time.Now().Add(30 * time.Second)
	for len(d.reg.Lookup("registry", 10)) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("joiner holds %d entries; status %+v", len(d.reg.Lookup("registry", 10)), d.reg.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, n := range []*testNode{a, b, c} {
		e := d.reg.Get(n.target().Key)
		if e == nil || e.IssuedAt >= joinedAt {
			t.Fatalf("entry of an older member %v was not learnt by catch-up", e)
		}
	}
	if st := d.reg.Status(); st.LastSync == 0 {
		t.Fatalf("no catch-up recorded: %+v", st)
	}
	// The node it caught up from has a measured RTT, reported beside its
	// entry (unsigned) in lookups.
	es, err := Lookup(context.Background(), cl, d.target(), "registry")
	if err != nil || len(es) != 4 {
		t.Fatalf("lookup at the joiner: %d, %v", len(es), err)
	}
	measured := 0
	for _, e := range es {
		if e.RTT > 0 {
			measured++
		}
	}
	if measured == 0 {
		t.Fatal("the joiner reports no RTT for the node it caught up from")
	}
}
