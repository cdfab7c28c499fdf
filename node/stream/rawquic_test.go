package stream

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// selfSigned is a throwaway TLS certificate for the baselines (bare
// quic-go, HTTP/3), which need no pinning.
func selfSigned(tb testing.TB) tls.Certificate {
	tb.Helper()
	pub, priv, _ := ed25519.GenerateKey(nil)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
}

// rawQUIC is the baseline the issue names: bare quic-go (default
// configuration, as node/transport uses) moving n bytes over one stream
// from a server to a client on 127.0.0.1, in 256 KiB writes. via, if not
// empty, is the address the client dials instead of the server's (a
// linkem relay in front of it); it returns the seconds from dial to the
// last byte.
func rawQUIC(tb testing.TB, n int, via func(target string) string) float64 {
	tb.Helper()
	cert := selfSigned(tb)
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"bench"}}, &quic.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	chunk := make([]byte, 256<<10)
	rand.Read(chunk)
	go func() {
		c, err := ln.Accept(context.Background())
		if err != nil {
			return
		}
		s, err := c.AcceptStream(context.Background())
		if err != nil {
			return
		}
		io.ReadFull(s, make([]byte, 1))
		for sent := 0; sent < n; sent += len(chunk) {
			if _, err := s.Write(chunk[:min(len(chunk), n-sent)]); err != nil {
				return
			}
		}
		s.Close()
		<-c.Context().Done()
	}()
	addr := ln.Addr().String()
	if via != nil {
		addr = via(addr)
	}
	start := time.Now()
	c, err := quic.DialAddr(context.Background(), addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"bench"}}, &quic.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	defer c.CloseWithError(0, "")
	s, err := c.OpenStreamSync(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	s.Write([]byte{1})
	buf := make([]byte, 256<<10)
	got := 0
	for {
		k, err := s.Read(buf)
		got += k
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	if got != n {
		tb.Fatalf("raw quic moved %d of %d bytes", got, n)
	}
	return time.Since(start).Seconds()
}
