package netclient

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
)

// BenchmarkDo measures what the pool adds to a call (choosing, deadline,
// scoring) against the same registry call made directly, in the same run.
func BenchmarkDo(b *testing.B) {
	nodes := startBenchNetwork(b, 3)
	p := newBenchPool(b, nodes[0].Contact())
	ctx := context.Background()
	target, _ := p.Best(registry.DNA.Name)
	self := func(ctx context.Context, tgt cell.Target) error {
		_, err := registry.SelfEntry(ctx, p.anon, tgt)
		return err
	}
	const calls = 200
	start := time.Now()
	for range calls {
		if err := self(ctx, target); err != nil {
			b.Fatal(err)
		}
	}
	direct := time.Since(start) / calls
	b.ResetTimer()
	for b.Loop() {
		if err := p.Do(ctx, registry.DNA.Name, self); err != nil {
			b.Fatal(err)
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds()), "µs/call")
	b.ReportMetric(float64(direct.Microseconds()), "direct-µs/call")
	b.ReportMetric(float64(per)/float64(direct), "pool/direct")
}

// BenchmarkPut compares a resumable upload through the pool with the shard
// client's own Put over the same nodes, in the same run.
func BenchmarkPut(b *testing.B) {
	nodes := startBenchNetwork(b, 3)
	p := newBenchPool(b, nodes[0].Contact())
	key, root := newPerson(b)
	st, err := NewStorage(StorageConfig{Pool: p, Key: key, FileRoot: root})
	if err != nil {
		b.Fatal(err)
	}
	data := testData(testBytes)
	ctx := context.Background()
	var pooled, direct time.Duration
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s := time.Now()
		if _, err := st.Put(ctx, bytes.NewReader(data), int64(len(data)), nil); err != nil {
			b.Fatal(err)
		}
		pooled += time.Since(s)
		s = time.Now()
		if _, err := st.Shard().Put(ctx, bytes.NewReader(data), nil); err != nil {
			b.Fatal(err)
		}
		direct += time.Since(s)
	}
	mib := float64(len(data)) / (1 << 20) * float64(b.N)
	b.ReportMetric(mib/pooled.Seconds(), "pool-MiB/s")
	b.ReportMetric(mib/direct.Seconds(), "shard-client-MiB/s")
	b.ReportMetric(pooled.Seconds()/direct.Seconds(), "pool/shard-client")
}

func startBenchNetwork(b *testing.B, n int) []*node.Node {
	b.Helper()
	var nodes []*node.Node
	for len(nodes) < n {
		var peers []node.Contact
		if len(nodes) > 0 {
			peers = []node.Contact{nodes[0].Contact()}
		}
		nd, err := node.Start(context.Background(), node.Config{
			DataDir: b.TempDir(), Listen: "127.0.0.1:0", Cells: testCells, Peers: peers,
			TreeHeartbeat: testHeartbeat, PeerInterval: time.Second, Logger: quietLogger(),
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { nd.Close() })
		nodes = append(nodes, nd)
	}
	return nodes
}

func newBenchPool(b *testing.B, bootstrap node.Contact) *Pool {
	b.Helper()
	p, err := New(context.Background(), Config{Listen: "127.0.0.1:0", Bootstrap: []node.Contact{bootstrap}, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	deadline := time.Now().Add(90 * time.Second)
	for len(p.Endpoints(shard.DNA.Name)) < 3 {
		if time.Now().After(deadline) {
			b.Fatal("the pool never listed three shard nodes")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p.Refresh(ctx)
		cancel()
		time.Sleep(100 * time.Millisecond)
	}
	return p
}
