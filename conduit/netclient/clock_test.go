package netclient

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
)

// TestTimeKeeper drives the keeper on a virtual monotonic clock: small
// corrections are ignored, medium ones slewed without the time ever
// running backwards, large ones stepped.
func TestTimeKeeper(t *testing.T) {
	const base = int64(1_700_000_000_000_000_000)
	k := newTimeKeeper(base)
	ms := int64(time.Millisecond)
	if got := k.now(0); got != base {
		t.Fatalf("before any correction: %d, want the computer's clock %d", got, base)
	}
	if a, _ := k.adjust(100*ms, 0); a != adjustIgnored || k.generation() != 0 {
		t.Fatalf("a 100 ms correction: %v", a)
	}
	// A first large correction jumps, backwards too.
	if a, _ := k.adjust(-10*int64(time.Minute), ms); a != adjustStepped {
		t.Fatalf("a 10 min correction: %v", a)
	}
	if got := k.now(2 * ms); got != base+2*ms-10*int64(time.Minute) {
		t.Fatalf("after the step: %d", got-base)
	}
	// Slews, either way, at random moments: the time never runs back
	// and ends where the last correction pointed.
	r := rand.New(rand.NewPCG(1, 2))
	mono, last, target := 3*ms, k.now(3*ms), int64(-10*time.Minute)
	for i := range 2000 {
		mono += r.Int64N(50 * ms)
		if i%100 == 0 {
			// Within maxSlew of where the clock is now: a slew.
			cur, _ := k.offset(mono)
			target = cur + r.Int64N(int64(2*maxSlew)) - int64(maxSlew)
			k.adjust(target, mono)
		}
		n := k.now(mono)
		if n < last {
			t.Fatalf("step %d: time ran back by %v", i, time.Duration(last-n))
		}
		last = n
	}
	mono += int64(2 * slewDiv * maxSlew)
	if cur, to := k.offset(mono); to-target > int64(minAdjust) || target-to > int64(minAdjust) || cur != to {
		t.Fatalf("after the slews: offset %v heading %v, want about %v", time.Duration(cur), time.Duration(to), time.Duration(target))
	}
	// A slew runs at half or one and a half speed, never faster.
	cur, _ := k.offset(mono)
	k.adjust(cur+int64(5*time.Second), mono)
	a := k.now(mono + 2*int64(time.Second))
	b := k.now(mono + 4*int64(time.Second))
	if b-a != 3*int64(time.Second) {
		t.Fatalf("a forward slew advanced %v in 2 s, want 3 s", time.Duration(b-a))
	}
}

func TestLargestAgreeing(t *testing.T) {
	s := int64(time.Second)
	v := func(node string, target int64) clockVote {
		return clockVote{node: node, target: target, rtt: time.Millisecond}
	}
	// One liar against two honest nodes.
	g := largestAgreeing([]clockVote{v("liar", 3600*s), v("a", 600*s), v("b", 600*s+s/2)}, 0)
	if len(g) != 2 || g[0].node == "liar" || g[1].node == "liar" {
		t.Fatalf("group %+v", g)
	}
	// Two against two: the group needing the smaller change wins.
	g = largestAgreeing([]clockVote{v("x", 3600*s), v("y", 3600*s), v("a", 0), v("b", s)}, 0)
	if len(g) != 2 || g[0].target > s || g[1].target > s {
		t.Fatalf("tie %+v", g)
	}
	// A lone vote is a group of one, which decide does not trust.
	if g := largestAgreeing([]clockVote{v("liar", 3600*s)}, 0); len(g) != 1 {
		t.Fatalf("lone %+v", g)
	}
}

// skewed is a computer clock off by d.
func skewed(d time.Duration) func() int64 {
	return func() int64 { return time.Now().Add(d).UnixMilli() }
}

// offBy returns how far the pool's time is from the real one.
func offBy(p *Pool) time.Duration {
	return time.Duration(p.Now()-time.Now().UnixMilli()) * time.Millisecond
}

// TestWrongComputerClock: a pool on a computer whose clock is 10 minutes
// ahead, or a day behind, given one bootstrap contact of a three-node
// network, connects (every node refuses its time, two agree on theirs,
// the pool steps to it), stores a file and reads it back; and the same
// with only an embedded node, whose word alone is trusted.
func TestWrongComputerClock(t *testing.T) {
	nodes := startNetwork(t, 3)
	for _, tc := range []struct {
		name     string
		skew     time.Duration
		embedded bool
	}{
		{"10 minutes ahead", 10 * time.Minute, false},
		{"a day behind", -24 * time.Hour, false},
		{"embedded node, 10 minutes behind", -10 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Bootstrap: []node.Contact{nodes[0].Contact()}, Now: skewed(tc.skew)}
			if tc.embedded {
				cfg = Config{
					Now: skewed(tc.skew), DataDir: t.TempDir(), ProbeTimeout: 2 * time.Second,
					Embedded: &node.Config{Cells: testCells, TreeHeartbeat: testHeartbeat, Logger: quietLogger()},
				}
			}
			p := newPool(t, cfg)
			want := 3
			if tc.embedded {
				want = 1
			}
			waitLive(t, p, shard.DNA.Name, want)
			if d := offBy(p); d.Abs() > time.Minute {
				t.Fatalf("the pool's time is %v off with a computer clock %v off", d, tc.skew)
			}
			st := p.Status().Clock
			if st == nil || (st.AppliedMs/1000+tc.skew.Seconds()) > 60 || (st.AppliedMs/1000+tc.skew.Seconds()) < -60 ||
				st.Agreeing < want || st.Agreeing < 1 || st.Adjustment == "" {
				t.Fatalf("status clock %+v", st)
			}
			key, root := newPerson(t)
			s, err := NewStorage(StorageConfig{Pool: p, Key: key, FileRoot: root})
			if err != nil {
				t.Fatal(err)
			}
			data := testData(512 << 10)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			m, err := s.Put(ctx, bytes.NewReader(data), int64(len(data)), nil)
			if err != nil {
				t.Fatalf("put: %v", err)
			}
			var out bytes.Buffer
			if _, err := s.Get(ctx, m, &out); err != nil || !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("read back: %v", err)
			}
			// NTP-style refinement keeps it there.
			if _, err := p.MeasureClock(ctx); err != nil {
				t.Fatal(err)
			}
			if d := offBy(p); d.Abs() > time.Minute {
				t.Fatalf("after measuring, the pool's time is %v off", d)
			}
		})
	}
}

// TestLyingNodeCannotMoveClock: a node whose clock is an hour ahead
// refuses every request of a pool whose clock is right. Listed first
// among the bootstrap contacts, and asked directly again and again, it
// never moves the pool's time: the honest nodes, asked in turn, agree
// with ours. Alone, its word is not enough either.
func TestLyingNodeCannotMoveClock(t *testing.T) {
	nodes := startNetwork(t, 3)
	liar, err := node.Start(context.Background(), node.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", Cells: testCells, Now: skewed(time.Hour),
		TreeHeartbeat: testHeartbeat, PeerInterval: time.Second, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { liar.Close() })
	lt := cell.Target{Key: liar.PublicKey(), Addr: liar.Contact().Addr}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("alone", func(t *testing.T) {
		p := newPool(t, Config{Bootstrap: []node.Contact{liar.Contact()}, ProbeTimeout: 2 * time.Second})
		for range 3 {
			_, err := registry.SelfEntry(ctx, p.anon, lt)
			if !cell.HasCode(err, cell.CodeStale) {
				t.Fatalf("the liar's answer: %v", err)
			}
		}
		p.syncClock(ctx)
		if d := offBy(p); d.Abs() > time.Minute {
			t.Fatalf("one node moved the pool's time by %v", d)
		}
	})
	t.Run("among honest nodes", func(t *testing.T) {
		p := newPool(t, Config{Bootstrap: []node.Contact{liar.Contact(), nodes[0].Contact()}})
		waitLive(t, p, shard.DNA.Name, 3)
		for range 3 {
			err := p.DoAt(ctx, lt, func(ctx context.Context, t cell.Target) error {
				_, err := registry.SelfEntry(ctx, p.anon, t)
				return err
			})
			if !cell.HasCode(err, cell.CodeStale) {
				t.Fatalf("the liar's answer: %v", err)
			}
			p.mu.Lock()
			p.lastClockSync = time.Time{} // let every refusal bootstrap
			p.mu.Unlock()
		}
		if d := offBy(p); d.Abs() > time.Minute {
			t.Fatalf("one node among honest ones moved the pool's time by %v", d)
		}
		if _, err := p.MeasureClock(ctx); err != nil {
			t.Fatal(err)
		}
		if d := offBy(p); d.Abs() > time.Minute {
			t.Fatalf("after measuring, the pool's time is %v off", d)
		}
	})
}

// BenchmarkPoolNow measures the pool's time (every request signs with it
// and every answer is checked against it) against the computer's clock it
// replaces, timed over the same number of calls in the same run.
func BenchmarkPoolNow(b *testing.B) {
	start := time.Now()
	k := newTimeKeeper(start.UnixNano())
	k.adjust(int64(5*time.Second), 0) // mid-slew: the costliest path
	var sink int64
	for b.Loop() {
		sink += k.now(time.Since(start).Nanoseconds()) / 1e6
	}
	b.StopTimer()
	per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	t0 := time.Now()
	for range b.N {
		sink += time.Now().UnixMilli()
	}
	base := float64(time.Since(t0).Nanoseconds()) / float64(b.N)
	b.ReportMetric(per, "ns/now")
	b.ReportMetric(base, "ns/time.Now")
	b.ReportMetric(per/base, "x-time.Now")
	_ = sink
}
