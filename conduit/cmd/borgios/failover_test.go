package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/borgios/borgios/conduit"
	"github.com/borgios/borgios/conduit/netclient"
	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
)

// raceEnabled reports whether this test binary runs under the race
// detector, which slows everything about tenfold: the failover test then
// uploads less and its nodes beat slower.
func raceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				return true
			}
		}
	}
	return false
}

func failoverSize() (bytes int, heartbeat time.Duration) {
	if raceEnabled() {
		return 8 << 20, 500 * time.Millisecond
	}
	return 100 << 20, 250 * time.Millisecond
}

// shardNode is one `borgios node --cells crono,registry,shard` process.
type shardNode struct {
	p       *proc
	contact node.Contact
}

func startShardNodes(tb testing.TB, n int, heartbeat time.Duration) []*shardNode {
	tb.Helper()
	var out []*shardNode
	for i := range n {
		args := []string{"node", "--listen", "127.0.0.1:0", "--monitor", "", "--data-dir", tb.TempDir(),
			"--cells", "crono,registry,shard", "--heartbeat", heartbeat.String(), "--log-level", "warn"}
		if i > 0 {
			args = append(args, "--peers", out[0].contact.String())
		}
		p := startProcQuiet(tb, args...)
		c, err := node.ParseContact(p.value(tb, "contact"))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, &shardNode{p: p, contact: c})
	}
	return out
}

// poolStatus shows the pool on the conduit's pages, as the conduit's
// network client does.
type poolStatus struct{ p *netclient.Pool }

func (s poolStatus) Status(context.Context) conduit.NetView { return conduit.PoolView(s.p.Status()) }

// failoverRun is one upload through the network client.
type failoverRun struct {
	elapsed   time.Duration
	killedAt  int64  // bytes stored when the endpoint in use was killed
	health    string // every network health the conduit reported, deduplicated
	pageError bool
}

// uploadThroughPool starts three node processes, a conduit whose network
// view is the pool, and uploads size bytes; with kill, the endpoint in use
// (the pool's best registry node, its entry point) is killed with SIGKILL
// once a third is stored. The file must read back bit-identical.
func uploadThroughPool(tb testing.TB, size int, heartbeat time.Duration, kill bool) failoverRun {
	tb.Helper()
	nodes := startShardNodes(tb, 3, heartbeat)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := netclient.New(context.Background(), netclient.Config{
		Network: testNetwork, Bootstrap: []node.Contact{nodes[0].contact}, Listen: "127.0.0.1:0",
		RefreshInterval: 2 * time.Second, Logger: quiet,
	})
	if err != nil {
		tb.Fatal(err)
	}
	defer pool.Close()
	deadline := time.Now().Add(120 * time.Second)
	for len(pool.Endpoints(shard.DNA.Name)) < 3 {
		if time.Now().After(deadline) {
			tb.Fatalf("the pool never listed three shard nodes: %+v", pool.Status())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		pool.Refresh(ctx)
		cancel()
		time.Sleep(200 * time.Millisecond)
	}

	srv, err := conduit.New(conduit.Config{Network: poolStatus{pool}, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	sctx, stopServer := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Run(sctx) }()
	defer func() { stopServer(); <-served }()

	_, person, _ := ed25519.GenerateKey(nil)
	var root [32]byte
	copy(root[:], person.Seed())
	st, err := netclient.NewStorage(netclient.StorageConfig{Pool: pool, Key: person, FileRoot: &root})
	if err != nil {
		tb.Fatal(err)
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}

	// Watch the conduit's status API (what the page polls) for the whole
	// upload: it must never say the network is gone.
	var run failoverRun
	healths := map[string]bool{}
	var mu sync.Mutex
	watchDone := make(chan struct{})
	stopWatch := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			h := apiHealth(srv)
			mu.Lock()
			healths[h] = true
			if h == string(conduit.HealthOffline) || h == "" {
				run.pageError = true
			}
			mu.Unlock()
			select {
			case <-stopWatch:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()

	var killed atomic.Bool
	start := time.Now()
	m, err := st.Put(context.Background(), bytes.NewReader(data), int64(size), func(stored int64) {
		if kill && stored >= int64(size)/3 && killed.CompareAndSwap(false, true) {
			run.killedAt = stored
			inUse, _ := pool.Best(registry.DNA.Name)
			for _, n := range nodes {
				if n.contact.Key.Equal(inUse.Key) {
					n.p.cmd.Process.Kill() // SIGKILL: no goodbye, no flush
				}
			}
		}
	})
	run.elapsed = time.Since(start)
	close(stopWatch)
	<-watchDone
	if err != nil {
		tb.Fatalf("upload (kill=%v): %v", kill, err)
	}
	if kill && !killed.Load() {
		tb.Fatal("the upload finished before the kill")
	}
	h := sha256.New()
	if _, err := st.Get(context.Background(), m, h); err != nil {
		tb.Fatalf("read back: %v", err)
	}
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
		tb.Fatal("the file read back differs from the one uploaded")
	}
	var hs []string
	for k := range healths {
		hs = append(hs, k)
	}
	run.health = strings.Join(hs, ",")
	return run
}

// apiHealth asks the conduit's status API, as the page does, for the
// network's health.
func apiHealth(srv *conduit.Server) string {
	req, _ := http.NewRequest(http.MethodGet, srv.Origin()+"/api/status", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var st struct {
		Network struct {
			Health string `json:"health"`
		} `json:"network"`
	}
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return ""
	}
	return st.Network.Health
}

// TestFailoverUpload: three node processes, an upload through the network
// client, kill -9 of the endpoint in use a third of the way: the upload
// completes, reads back bit-identical, and the conduit's status never
// reports an error.
func TestFailoverUpload(t *testing.T) {
	size, hb := failoverSize()
	run := uploadThroughPool(t, size, hb, true)
	if run.pageError {
		t.Fatalf("the conduit reported the network as offline during the upload (healths seen: %s)", run.health)
	}
	t.Logf("%d MiB uploaded in %v with the endpoint in use killed at %d MiB; network health seen: %s",
		size>>20, run.elapsed.Round(time.Millisecond), run.killedAt>>20, run.health)
}

// BenchmarkFailoverUpload measures what a kill -9 of the endpoint in use
// costs an upload: the same upload on a fresh three-node network with and
// without the kill, in the same run. extra-s is the time the kill added.
func BenchmarkFailoverUpload(b *testing.B) {
	size, hb := failoverSize()
	var base, failed time.Duration
	for range b.N {
		base += uploadThroughPool(b, size, hb, false).elapsed
		failed += uploadThroughPool(b, size, hb, true).elapsed
	}
	n := float64(b.N)
	b.ReportMetric(base.Seconds()/n, "baseline-s")
	b.ReportMetric(failed.Seconds()/n, "failover-s")
	b.ReportMetric((failed-base).Seconds()/n, "extra-s")
	b.ReportMetric(failed.Seconds()/base.Seconds(), "failover/baseline")
	b.ReportMetric(float64(size)/(1<<20)/(base.Seconds()/n), "baseline-MiB/s")
	b.ReportMetric(float64(size)/(1<<20)/(failed.Seconds()/n), "failover-MiB/s")
}
