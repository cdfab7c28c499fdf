package transport

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

const (
	bulkBytes = 64 << 20 // per transfer
	bulkChunk = 1 << 20  // per Write / WriteFrame
	smallReq  = 64       // bytes per request in the latency benchmarks
)

// rawPair is the baseline: bare quic-go between two sockets on 127.0.0.1,
// with the same certificates, TLS configuration and QUIC configuration as a
// Transport, but no stream header, framing, pool or handler dispatch.
type rawPair struct {
	conn *quic.Conn
	stop func()
}

// newRawPair starts a raw server whose every stream runs serve, and a client
// connected to it.
func newRawPair(tb testing.TB, serve func(*quic.Stream)) *rawPair {
	tb.Helper()
	cfg, err := (&Config{Key: newKey(tb)}).withDefaults()
	if err != nil {
		tb.Fatal(err)
	}
	qconf := quicConfig(cfg)
	srvKey, cliKey := newKey(tb), newKey(tb)
	srvCert, err := newCertificate(srvKey)
	if err != nil {
		tb.Fatal(err)
	}
	cliCert, err := newCertificate(cliKey)
	if err != nil {
		tb.Fatal(err)
	}
	udpS, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	udpC, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	qtS, qtC := &quic.Transport{Conn: udpS}, &quic.Transport{Conn: udpC}
	ln, err := qtS.Listen(serverTLS(srvCert), qconf)
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept(context.Background())
		if err != nil {
			return
		}
		for {
			s, err := c.AcceptStream(context.Background())
			if err != nil {
				return
			}
			go serve(s)
		}
	}()
	pub := srvKey.Public().(ed25519.PublicKey)
	conn, err := qtC.Dial(context.Background(), udpS.LocalAddr(), clientTLS(cliCert, udpS.LocalAddr().String(), pub, &pinnedKey{}), qconf)
	if err != nil {
		tb.Fatal(err)
	}
	return &rawPair{conn: conn, stop: func() {
		conn.CloseWithError(0, "")
		ln.Close()
		<-done
		qtC.Close()
		qtS.Close()
		udpC.Close()
		udpS.Close()
	}}
}

// BenchmarkBulk moves 64 MiB over one stream per transfer, four ways in turn
// within the same loop, so all see the same machine: two Transports with
// 1 MiB frames read by ReadFrame (a new buffer per frame) and by
// ReadFrameBuf (one reused buffer), two Transports with raw Stream
// Write/Read, and bare quic-go with 1 MiB writes and the same TLS and QUIC
// configuration. MB/s is over all four; the per-variant MB/s and the ratios
// to raw quic-go are the figures to compare.
func BenchmarkBulk(b *testing.B) {
	a, srv := listen(b), listen(b)
	srv.HandleStream("bulk", func(_ context.Context, _ Peer, s *Stream) {
		var n uint64
		for {
			f, err := s.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			n += uint64(len(f))
		}
		s.WriteFrame(binary.BigEndian.AppendUint64(nil, n))
		s.CloseWrite()
	})
	srv.HandleStream("bulk-buf", func(_ context.Context, _ Peer, s *Stream) {
		var n uint64
		var buf []byte
		for {
			f, err := s.ReadFrameBuf(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			n += uint64(len(f))
			buf = f
		}
		s.WriteFrame(binary.BigEndian.AppendUint64(nil, n))
		s.CloseWrite()
	})
	srv.HandleStream("bulk-bytes", func(_ context.Context, _ Peer, s *Stream) {
		n, _ := io.Copy(io.Discard, s)
		s.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
		s.CloseWrite()
	})
	raw := newRawPair(b, func(s *quic.Stream) {
		n, _ := io.Copy(io.Discard, s)
		s.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
		s.Close()
	})
	defer raw.stop()
	chunk := bytes.Repeat([]byte{0x5a}, bulkChunk)
	ctx := context.Background()

	viaFrames := func(proto string) {
		s, err := a.OpenStream(ctx, addrOf(srv), srv.PublicKey(), proto)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for sent := 0; sent < bulkBytes; sent += bulkChunk {
			if err := s.WriteFrame(chunk); err != nil {
				b.Fatal(err)
			}
		}
		s.CloseWrite()
		f, err := s.ReadFrame()
		if err != nil || binary.BigEndian.Uint64(f) != bulkBytes {
			b.Fatalf("transport transfer: %x %v", f, err)
		}
	}
	viaTransportBytes := func() {
		s, err := a.OpenStream(ctx, addrOf(srv), srv.PublicKey(), "bulk-bytes")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for sent := 0; sent < bulkBytes; sent += bulkChunk {
			if _, err := s.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		s.CloseWrite()
		got, err := io.ReadAll(s)
		if err != nil || binary.BigEndian.Uint64(got) != bulkBytes {
			b.Fatalf("transport byte transfer: %x %v", got, err)
		}
	}
	viaRaw := func() {
		s, err := raw.conn.OpenStreamSync(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for sent := 0; sent < bulkBytes; sent += bulkChunk {
			if _, err := s.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		s.Close()
		got, err := io.ReadAll(s)
		if err != nil || binary.BigEndian.Uint64(got) != bulkBytes {
			b.Fatalf("raw transfer: %x %v", got, err)
		}
	}
	variants := []struct {
		name string
		run  func()
		took time.Duration
	}{
		{"transport-frames", func() { viaFrames("bulk") }, 0},
		{"transport-framebuf", func() { viaFrames("bulk-buf") }, 0},
		{"transport-bytes", viaTransportBytes, 0},
		{"raw", viaRaw, 0},
	}
	for _, v := range variants { // warm up: connection, congestion and flow control windows
		v.run()
	}

	b.SetBytes(int64(len(variants)) * bulkBytes)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i := range variants {
			start := time.Now()
			variants[i].run()
			variants[i].took += time.Since(start)
		}
	}
	mbps := func(d time.Duration) float64 { return float64(b.N) * bulkBytes / 1e6 / d.Seconds() }
	rawMBps := mbps(variants[len(variants)-1].took)
	for _, v := range variants {
		b.ReportMetric(mbps(v.took), v.name+"-MB/s")
	}
	for _, v := range variants[:len(variants)-1] {
		b.ReportMetric(mbps(v.took)/rawMBps, v.name+"/raw")
	}
}

// BenchmarkRequestLatency measures one small request and its answer at a
// time: Transport.Request against raw quic-go doing the same exchange (a new
// stream, 64 bytes each way, FIN both ways), alternating in one loop.
func BenchmarkRequestLatency(b *testing.B) {
	a, srv := listen(b), listen(b)
	srv.Handle("echo", echo)
	raw := newRawPair(b, func(s *quic.Stream) {
		req, _ := io.ReadAll(s)
		s.Write(req)
		s.Close()
	})
	defer raw.stop()
	req := bytes.Repeat([]byte{7}, smallReq)
	ctx := context.Background()

	viaTransport := func() {
		resp, err := a.Request(ctx, addrOf(srv), srv.PublicKey(), "echo", req)
		if err != nil || len(resp) != smallReq {
			b.Fatalf("transport: %d bytes, %v", len(resp), err)
		}
	}
	viaRaw := func() {
		s, err := raw.conn.OpenStreamSync(ctx)
		if err != nil {
			b.Fatal(err)
		}
		s.Write(req)
		s.Close()
		resp, err := io.ReadAll(s)
		if err != nil || len(resp) != smallReq {
			b.Fatalf("raw: %d bytes, %v", len(resp), err)
		}
	}
	for range 100 { // warm up
		viaTransport()
		viaRaw()
	}

	b.ReportAllocs()
	b.ResetTimer()
	var tTransport, tRaw time.Duration
	for b.Loop() {
		start := time.Now()
		viaTransport()
		mid := time.Now()
		viaRaw()
		tTransport += mid.Sub(start)
		tRaw += time.Since(mid)
	}
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(us(tTransport), "transport-µs/op")
	b.ReportMetric(us(tRaw), "raw-µs/op")
	b.ReportMetric(us(tTransport)/us(tRaw), "ratio")
	b.ReportMetric(float64(b.N)/tTransport.Seconds(), "transport-req/s")
}

// BenchmarkRequestParallel is throughput with many requests in flight on one
// pooled connection.
func BenchmarkRequestParallel(b *testing.B) {
	a, srv := listen(b), listen(b)
	srv.Handle("echo", echo)
	req := bytes.Repeat([]byte{7}, smallReq)
	ctx := context.Background()
	if _, err := a.Request(ctx, addrOf(srv), srv.PublicKey(), "echo", req); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Request(ctx, addrOf(srv), srv.PublicKey(), "echo", req); err != nil {
				panic(fmt.Sprintf("request: %v", err))
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
