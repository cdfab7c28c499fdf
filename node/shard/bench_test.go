package shard

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/borgios/borgios/node/transport"
)

// benchBytes is the file of the throughput benchmark: 200 MB, or
// SHARD_BENCH_MB.
func benchBytes() int {
	if s := os.Getenv("SHARD_BENCH_MB"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n << 20
		}
	}
	return 200 << 20
}

type discardAt struct{}

func (discardAt) Write(p []byte) (int, error) { return len(p), nil }

// rawThroughput pushes n bytes in 256 KiB frames over one transport stream
// from the client's transport to the node's, the ceiling for shard moves.
func rawThroughput(b *testing.B, from *transport.Transport, to *tnode, n int) float64 {
	const proto = "bench/raw"
	done := make(chan struct{})
	to.tr.HandleStream(proto, func(ctx context.Context, _ transport.Peer, s *transport.Stream) {
		var buf []byte
		for {
			f, err := s.ReadFrameBuf(buf)
			if err != nil {
				break
			}
			buf = f
		}
		s.Write([]byte{1})
		close(done)
	})
	ctx := context.Background()
	chunk := make([]byte, DefaultChunkSize+Overhead)
	rand.Read(chunk)
	start := time.Now()
	s, err := from.OpenStream(ctx, to.tr.Addr().String(), to.pub(), proto)
	if err != nil {
		b.Fatal(err)
	}
	for sent := 0; sent < n; sent += DefaultChunkSize {
		if err := s.WriteFrame(chunk); err != nil {
			b.Fatal(err)
		}
	}
	s.CloseWrite()
	io.ReadFull(s, make([]byte, 1))
	<-done
	s.Close()
	return float64(n) / time.Since(start).Seconds() / 1e6
}

// BenchmarkThroughput stores and reads back a 200 MB file between a client
// and one storage node on 127.0.0.1 (k=1: every shard crosses the link
// once, is hashed, fsynced and indexed), against raw transport throughput
// measured in the same run.
func BenchmarkThroughput(b *testing.B) {
	n := benchBytes()
	nodes := startNetwork(b, 1, nodeOpts{})
	p := newPerson(b, nodes[0])
	p.client.cfg.K = 1
	data := make([]byte, n)
	rand.Read(data)
	ctx := context.Background()
	b.SetBytes(int64(n))
	b.ResetTimer()
	var putS, getS, rawS float64
	for range b.N {
		raw := rawThroughput(b, p.call.Transport, nodes[0], n)
		start := time.Now()
		m, err := p.client.Put(ctx, bytes.NewReader(data), nil)
		if err != nil {
			b.Fatal(err)
		}
		put := time.Since(start)
		start = time.Now()
		if _, err := p.client.Get(ctx, m, discardAt{}); err != nil {
			b.Fatal(err)
		}
		get := time.Since(start)
		putS += float64(n) / put.Seconds() / 1e6
		getS += float64(n) / get.Seconds() / 1e6
		rawS += raw
		b.StopTimer()
		if err := p.client.Delete(ctx, m); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	N := float64(b.N)
	b.ReportMetric(putS/N, "store-MB/s")
	b.ReportMetric(getS/N, "retrieve-MB/s")
	b.ReportMetric(rawS/N, "raw-MB/s")
	b.ReportMetric(putS/rawS, "store/raw")
	b.ReportMetric(getS/rawS, "retrieve/raw")
}

// BenchmarkMessagesPerRead counts requests per shard read on ten nodes:
// placement (one batched "has" per holder for the whole file, then one
// read per shard) against the broadcast fallback (a "has" to every member
// and a read, per shard).
func BenchmarkMessagesPerRead(b *testing.B) {
	nodes := startNetwork(b, 10, nodeOpts{})
	p := newPerson(b, nodes[0])
	ctx := context.Background()
	data := make([]byte, 32*DefaultChunkSize)
	rand.Read(data)
	m, err := p.client.Put(ctx, bytes.NewReader(data), nil)
	if err != nil {
		b.Fatal(err)
	}
	members, _ := p.client.members(ctx)
	b.ResetTimer()
	var placed, broadcast float64
	for range b.N {
		before := p.client.Calls().Total()
		if _, err := p.client.Get(ctx, m, discardAt{}); err != nil {
			b.Fatal(err)
		}
		placed += float64(p.client.Calls().Total()-before) / float64(len(m.Shards))
		before = p.client.Calls().Total()
		for _, s := range m.Shards {
			if d, _, _ := p.client.broadcastFind(ctx, s, Rank(s.ID, members), map[int]bool{}); d == nil {
				b.Fatal("broadcast search found nothing")
			}
		}
		broadcast += float64(p.client.Calls().Total()-before) / float64(len(m.Shards))
	}
	b.ReportMetric(placed/float64(b.N), "msgs/read-placement")
	b.ReportMetric(broadcast/float64(b.N), "msgs/read-broadcast")
	b.ReportMetric(broadcast/placed, "broadcast/placement")
}
