package netclock_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/crono"
	"github.com/borgios/borgios/node/netclock"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

type stepClock struct {
	mu  sync.Mutex
	now int64
}

func (c *stepClock) Monotonic() int64 { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	c.now += int64(d)
	c.mu.Unlock()
}

func TestNowBeforeSyncIsLocalEstimate(t *testing.T) {
	lc := &stepClock{now: 5e9}
	const epoch = int64(1_750_000_000) * 1e9
	s, err := netclock.New(netclock.Config{Local: lc, Epoch: epoch, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.NowNs(), epoch+5e9; got != want {
		t.Fatalf("NowNs %d, want Epoch+local %d", got, want)
	}
	lc.add(1500 * time.Microsecond)
	if got, want := s.Now(), (epoch+5e9+1.5e6)/1e6; got != want {
		t.Fatalf("Now %d ms, want %d", got, want)
	}
	if s.Synced() || s.Status().Synced {
		t.Fatal("synced without a tree")
	}
}

func TestNewDefaultsToSystemClock(t *testing.T) {
	s, err := netclock.New(netclock.Config{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	// Unsynced, the guess is the OS clock; allow for a very slow machine.
	if d := s.Now() - time.Now().UnixMilli(); d > 1000 || d < -1000 {
		t.Fatalf("unsynced network time %d ms from the OS clock", d)
	}
	if _, err := netclock.New(netclock.Config{MaxSkew: -1}); !errors.Is(err, netclock.ErrConfig) {
		t.Fatalf("negative MaxSkew: %v", err)
	}
	if _, err := netclock.New(netclock.Config{Crono: crono.Config{FilterSize: 1000}}); err == nil {
		t.Fatal("bad crono config accepted")
	}
}

func TestStartTwiceAndClose(t *testing.T) {
	c := newCluster(t)
	n := c.add("a", 0, 0, 2)
	host := cell.Host{Key: n.key, Network: testNetwork, Transport: n.tr, Logger: quietLogger()}
	if _, err := n.svc.Start(host, netclock.CellType(n.svc), cell.Options{}); !errors.Is(err, netclock.ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	n.svc.Close()
	n.svc.Close()
	before := n.svc.NowNs()
	if n.svc.NowNs() < before {
		t.Fatal("time went back after Close")
	}
}

// TestReceptor: a lone root answers sync requests from a client whose own
// clock is 2 h off (the crono verifier's wide window), refuses an
// undecodable one with bad-request, and the answer decodes and validates.
func TestReceptor(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := newCluster(t)
	root := c.add("root", 0, 0, 2)
	waitTree(t, c.nodes, 20*time.Second)

	// The client's clock is 2 h ahead of network time.
	_, key, _ := ed25519.GenerateKey(nil)
	tr, err := transport.Listen(transport.Config{Key: key, ListenAddr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	skewed := func() int64 { return root.svc.Now() + 2*3600*1000 }
	cl := &cell.Client{Transport: tr, Key: key, Network: testNetwork, Now: skewed,
		Verifier: wire.NewVerifier(wire.Config{Network: testNetwork, Window: 3 * time.Hour, Now: skewed})}
	tgt := cell.Target{Key: root.key.Public().(ed25519.PublicKey), Addr: root.tr.Addr().String()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, _ := wire.Marshal(crono.Request{Seq: 7, T1: 123})
	out, err := cl.Call(ctx, tgt, netclock.DNA, netclock.KindSync, q)
	if err != nil {
		t.Fatalf("sync request 2 h off: %v", err)
	}
	resp, err := netclock.DecodeResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Seq != 7 || resp.T1 != 123 || !resp.Synced || resp.Stratum != 0 {
		t.Fatalf("answer %+v", resp)
	}
	if _, err := cl.Call(ctx, tgt, netclock.DNA, netclock.KindSync, []byte{0xff}); !cell.HasCode(err, cell.CodeBadRequest) {
		t.Fatalf("garbage request: %v", err)
	}

	// Metrics register and report.
	s, err := netclock.New(netclock.Config{Registerer: reg, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	_ = s
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	for _, want := range []string{"borgios_crono_offset_seconds", "borgios_crono_error_seconds", "borgios_crono_synced"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("metric %s missing from %v", want, names)
		}
	}
}
