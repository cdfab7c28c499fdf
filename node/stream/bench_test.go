package stream

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/borgios/borgios/node/monitor"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/transport"
)

// benchBytes is the benchmark file: 200 MB, or STREAM_BENCH_MB.
func benchBytes() int {
	if s := os.Getenv("STREAM_BENCH_MB"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n << 20
		}
	}
	return 200 << 20
}

// cpuSeconds is the process's user+system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// profile writes a CPU profile of one phase to $STREAM_PROFILE.<phase>
// if that variable is set (go test's -cpuprofile covers the setup too).
func profile(b *testing.B, phase string) func() {
	dir := os.Getenv("STREAM_PROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(dir + "." + phase)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// referenceMBps is the reference implementation's figure (issue 11,
// notes section 13): 30 MB in 2.017 s, one sender, window 35.
const referenceMBps = 30.0 / 2.017

// rawThroughput pushes n bytes in sealed-shard-sized frames over one
// transport stream from the reader's transport to a node: the ceiling
// for moving the same bytes without requests, signatures or crypto.
func rawThroughput(b *testing.B, from *transport.Transport, to *tnode, n int) float64 {
	const proto = "bench/stream-raw"
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
	chunk := make([]byte, shard.DefaultChunkSize+shard.Overhead)
	rand.Read(chunk)
	start := time.Now()
	s, err := from.OpenStream(context.Background(), to.tr.Addr().String(), to.member().Key, proto)
	if err != nil {
		b.Fatal(err)
	}
	for sent := 0; sent < n; sent += shard.DefaultChunkSize {
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

// BenchmarkFetch200MB: one holder to one reader on 127.0.0.1, every piece
// authenticated against the manifest, decrypted and written, the whole
// file hashed, against bare quic-go (one stream, no crypto beyond QUIC's)
// and our transport's raw stream throughput, measured in the same run.
// The ratio the issue asks for is fetch/quic (target >= 0.8). Each
// iteration alternates STREAM_ROUNDS (default 3) rounds of bare quic-go
// and fetch: other work on the machine only ever slows a round down, so
// the best round of each is the estimate of its speed, and the median of
// the per-round ratios is reported beside the ratio of the bests.
func BenchmarkFetch200MB(b *testing.B) {
	n := benchBytes()
	rounds := 3
	if r, err := strconv.Atoi(os.Getenv("STREAM_ROUNDS")); err == nil && r > 0 {
		rounds = r
	}
	nodes, v := startNetwork(b, 1, nil)
	p := newPerson(b, v, 1)
	_, m := p.put(b, n)
	f := p.fetcher(b, v, benchMod)
	out := &memFile{b: make([]byte, m.Size)}
	b.SetBytes(int64(n))
	b.ResetTimer()
	var bestFetch, bestQUIC, rawS, getS, quicCPU, fetchCPU, rawCPU float64
	var ratios []float64
	steal0, _ := monitor.HostSteal()
	began := time.Now()
	for range b.N {
		c1 := cpuSeconds()
		raw := rawThroughput(b, p.tr, nodes[0], n)
		rawCPU += cpuSeconds() - c1
		rawS += raw
		// shard.Client.Get (in order, fixed window) over the same cell.
		start := time.Now()
		if _, err := p.client.Get(context.Background(), m, io.Discard); err != nil {
			b.Fatal(err)
		}
		getS += float64(n) / time.Since(start).Seconds() / 1e6
		for range rounds {
			c0 := cpuSeconds()
			stop := profile(b, "quic")
			q := float64(n) / rawQUIC(b, n, nil) / 1e6
			stop()
			quicCPU += cpuSeconds() - c0
			start = time.Now()
			c0 = cpuSeconds()
			stop = profile(b, "fetch")
			rep, err := f.Fetch(context.Background(), m, out, Options{})
			stop()
			if err != nil {
				b.Fatal(err)
			}
			fetchCPU += cpuSeconds() - c0
			fs := float64(n) / time.Since(start).Seconds() / 1e6
			b.Logf("quic %.0f MB/s, fetch %.0f MB/s (%.2f): %d requests on %d streams, %d duplicates, %d timeouts",
				q, fs, fs/q, rep.Requests, rep.Opened, rep.Duplicates, rep.Timeouts)
			bestQUIC, bestFetch = max(bestQUIC, q), max(bestFetch, fs)
			ratios = append(ratios, fs/q)
		}
	}
	N := float64(b.N)
	steal1, _ := monitor.HostSteal()
	// What the hypervisor took from the 2 cores meanwhile, as a share.
	b.ReportMetric((steal1-steal0).Seconds()/(2*time.Since(began).Seconds()), "host-steal-share")
	slices.Sort(ratios)
	b.ReportMetric(bestFetch, "fetch-MB/s")
	b.ReportMetric(bestQUIC, "quic-MB/s")
	b.ReportMetric(rawS/N, "raw-MB/s")
	b.ReportMetric(getS/N, "shardget-MB/s")
	// CPU seconds (user+system, whole process: holder and reader) per GB:
	// the ratio that does not depend on what else the machine runs.
	gb := float64(n) / 1e9
	b.ReportMetric(quicCPU/gb/N/float64(rounds), "quic-cpu-s/GB")
	b.ReportMetric(rawCPU/gb/N, "raw-cpu-s/GB")
	b.ReportMetric(fetchCPU/gb/N/float64(rounds), "fetch-cpu-s/GB")
	b.ReportMetric(quicCPU/fetchCPU, "quic/fetch-cpu")
	b.ReportMetric(bestFetch/bestQUIC, "fetch/quic")
	b.ReportMetric(ratios[len(ratios)/2], "fetch/quic-median")
	b.ReportMetric(bestFetch/(rawS/N), "fetch/raw")
	b.ReportMetric(bestFetch/(getS/N), "fetch/shardget")
	b.ReportMetric(bestFetch/referenceMBps, "fetch/reference")
}

// BenchmarkFetchSources: the same file from three holders and from one
// (the reader's view restricted to a single node) in the same run.
func BenchmarkFetchSources(b *testing.B) {
	n := benchBytes() / 2
	nodes, v := startNetwork(b, 3, nil)
	p := newPerson(b, v, 3)
	_, m := p.put(b, n)
	one := &view{}
	one.set([]shard.Member{nodes[0].member()})
	all := p.fetcher(b, v, benchMod)
	single := p.fetcher(b, one, func(c *Config) { c.K = 1; benchMod(c) })
	out := &memFile{b: make([]byte, m.Size)}
	b.SetBytes(int64(n))
	b.ResetTimer()
	var threeS, oneS float64
	var lat time.Duration
	for range b.N {
		start := time.Now()
		if _, err := single.Fetch(context.Background(), m, out, Options{}); err != nil {
			b.Fatal(err)
		}
		oneS += float64(n) / time.Since(start).Seconds() / 1e6
		start = time.Now()
		rep, err := all.Fetch(context.Background(), m, out, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Sources) < 2 {
			b.Fatalf("three-holder fetch used %d sources", len(rep.Sources))
		}
		threeS += float64(n) / time.Since(start).Seconds() / 1e6
		// Time to the first byte of a Range read (a video starting).
		rr, _ := all.Open(context.Background(), m)
		start = time.Now()
		rr.ReadAt(make([]byte, 4096), m.Size/2)
		lat += time.Since(start)
		rr.Close()
	}
	N := float64(b.N)
	b.ReportMetric(threeS/N, "3holders-MB/s")
	b.ReportMetric(oneS/N, "1holder-MB/s")
	b.ReportMetric(threeS/oneS, "3/1")
	b.ReportMetric(float64(lat.Microseconds())/N/1000, "range-first-byte-ms")
}

// benchMod lets a run try other windows: STREAM_WINDOW=initial,max,slots,
// and STREAM_QUEUE=pieces for the queue a window may build.
func benchMod(c *Config) {
	if q, err := strconv.ParseFloat(os.Getenv("STREAM_QUEUE"), 64); err == nil && q > 0 {
		queueTarget = q
	}
	var a, b, s int
	if _, err := fmt.Sscanf(os.Getenv("STREAM_WINDOW"), "%d,%d,%d", &a, &b, &s); err == nil {
		c.InitialWindow, c.HolderWindow, c.Limiter = a, b, NewLimiter(s, 0)
	}
}
