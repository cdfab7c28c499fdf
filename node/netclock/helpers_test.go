package netclock_test

import (
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/cell/celltest"
	"github.com/borgios/borgios/node/crono"
	"github.com/borgios/borgios/node/netclock"
	"github.com/borgios/borgios/node/peertree"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

const testNetwork = "netclock-test"

func quietLogger() *slog.Logger { return celltest.Logger("") }

// tnode is one real node of a test: a celltest node (its own key, QUIC
// transport on 127.0.0.1) with a skewed local clock, Service and crono
// cell runtime.
type tnode struct {
	*celltest.Node
	name string
	key  ed25519.PrivateKey
	tr   *transport.Transport
	svc  *netclock.Service
	rt   *cell.Runtime
	// verifier is the node's ordinary (30 s window) verifier on network
	// time, as every other cell uses it.
	verifier *wire.Verifier
}

func (n *tnode) member() peertree.Member { return n.Member() }

// kill stops the node abruptly: transport, runtime, then poll loop.
func (n *tnode) kill() { n.Kill() }

type cluster struct {
	t     testing.TB
	net   *celltest.Network
	sys   *crono.SystemClock
	nodes []*tnode
}

func newCluster(t testing.TB) *cluster {
	return &cluster{t: t, sys: crono.NewSystemClock(), net: celltest.New(t, celltest.Config{Network: testNetwork})}
}

// testCrono polls fast while an edge starts up so a test tree syncs in
// seconds; the rest are the production defaults.
var testCrono = crono.Config{BurstInterval: 200 * time.Millisecond, FilterSize: 16, MinSamples: 8}

// add starts a node whose clock is off by off and runs ppm fast, with a
// fan-out of maxChildren and the given tree heartbeat.
func (c *cluster) add(name string, off time.Duration, ppm float64, maxChildren int, contacts ...*tnode) *tnode {
	t := c.t
	t.Helper()
	svc, err := netclock.New(netclock.Config{
		Local:  crono.Skewed(c.sys, int64(off), ppm),
		Epoch:  c.sys.Epoch(),
		Crono:  testCrono,
		Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var cs []*celltest.Node
	for _, p := range contacts {
		cs = append(cs, p.Node)
	}
	node := c.net.AddWith(celltest.NodeOptions{Now: svc.Now}, cs...)
	node.OnKill(svc.Close)
	n := &tnode{Node: node, name: name, key: node.Key, tr: node.Transport, svc: svc, verifier: node.Host.Verifier}
	typ := netclock.CellType(svc)
	typ.DNA.MaxChildren = maxChildren
	typ.Tree.Heartbeat = 150 * time.Millisecond
	rt, err := svc.Start(node.Host, typ, node.Options())
	if err != nil {
		t.Fatal(err)
	}
	node.OnKill(rt.Close)
	n.rt = rt
	c.nodes = append(c.nodes, n)
	return n
}

// randomSkew is up to ±1 h of offset and ±100 ppm of rate.
func randomSkew(r *rand.Rand) (time.Duration, float64) {
	return time.Duration((r.Float64()*2 - 1) * float64(time.Hour)), (r.Float64()*2 - 1) * 100
}

// errorAgainst reads ref, n, ref and returns n's network time minus the
// midpoint of the two reference readings, and the span of the readings
// (how much the sampling itself could be off).
func errorAgainst(ref, n *tnode) (diff, span time.Duration) {
	a := ref.svc.NowNs()
	b := n.svc.NowNs()
	c := ref.svc.NowNs()
	return time.Duration(b - (a + (c-a)/2)), time.Duration(c - a)
}

// sample measures the error of every node against ref; readings whose span
// exceeds maxSpan (the goroutine was descheduled mid-read) are retried.
func sample(ref *tnode, nodes []*tnode, maxSpan time.Duration) (worst time.Duration, who *tnode) {
	for _, n := range nodes {
		if n == ref {
			continue
		}
		var d time.Duration
		for try := 0; try < 20; try++ {
			var span time.Duration
			d, span = errorAgainst(ref, n)
			if span <= maxSpan {
				break
			}
		}
		if d < 0 {
			d = -d
		}
		if d > worst {
			worst, who = d, n
		}
	}
	return worst, who
}

// waitTree waits until every node sees one tree of len(nodes) members with
// the same root, and returns the root.
func waitTree(t testing.TB, nodes []*tnode, timeout time.Duration) *tnode {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		var root *tnode
		rootKey := ""
		ok := true
		for _, n := range nodes {
			v := n.rt.View()
			if v.Size != len(nodes) || v.Position < 1 || (rootKey != "" && v.Root.Key != rootKey) {
				ok = false
				last = fmt.Sprintf("%s: %s pos %d size %d root %.8s", n.name, v.Status, v.Position, v.Size, v.Root.Key)
				break
			}
			rootKey = v.Root.Key
			if v.Position == 1 {
				root = n
			}
		}
		if ok && root != nil {
			return root
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no single tree of %d formed; last: %s", len(nodes), last)
	return nil
}

// waitSync waits until every node is synced and within bound of ref in
// several consecutive rounds of samples; it returns how long that took.
func waitSync(t testing.TB, ref *tnode, nodes []*tnode, bound, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	good := 0
	var worst time.Duration
	var who *tnode
	for time.Now().Before(deadline) {
		// Settled: synced with enough samples, nothing left to slew, and
		// measured within bound, for two seconds in a row.
		settled := true
		for _, n := range nodes {
			st := n.svc.Status()
			if n != ref && (!st.Synced || st.Accepted < 8 || st.CorrectionMs > 1 || st.CorrectionMs < -1) {
				settled = false
				who = n
				break
			}
		}
		good++
		if !settled {
			good = 0
		} else {
			worst, who = sample(ref, nodes, 200*time.Microsecond)
			if worst > bound {
				good = 0
			} else if good >= 40 {
				return time.Since(start)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not within %v of %s after %v; worst %v at %s\n%s", bound, ref.name, timeout, worst, nameOf(who), dump(nodes))
	return 0
}

func nameOf(n *tnode) string {
	if n == nil {
		return "-"
	}
	return n.name
}

func dump(nodes []*tnode) string {
	var b strings.Builder
	for _, n := range nodes {
		st := n.svc.Status()
		v := n.rt.View()
		fmt.Fprintf(&b, "  %s pos %d: synced %v root %v stratum %d err %.3fms offset %.3fms corr %.3fms rtt %.3fms mindelay %.3fms acc %d filt %d jumps %d steps %d last error %q\n",
			n.name, v.Position, st.Synced, st.Root, st.Stratum, st.ErrorMs, st.OffsetMs, st.CorrectionMs, st.LastRTTMs, st.MinDelayMs, st.Accepted, st.Filtered, st.Jumps, st.Steps, st.LastError)
	}
	return b.String()
}
