package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// Peers with unacceptable certificates never reach a handler, and the
// listener keeps serving everyone else.
func TestListenerRefusesBadClientCertificates(t *testing.T) {
	checkLeaks(t)
	a, b := listen(t), listen(t)
	handled := make(chan Peer, 10)
	b.Handle("echo", func(_ context.Context, p Peer, req []byte) ([]byte, error) {
		handled <- p
		return req, nil
	})

	ecdsaCert := func() tls.Certificate {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ecdsa"},
			NotBefore: certNotBefore, NotAfter: certNotAfter}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	// An Ed25519 certificate whose signature is by some other key.
	foreignSigned := func() tls.Certificate {
		leafKey, issuerKey := newKey(t), newKey(t)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "leaf"},
			NotBefore: certNotBefore, NotAfter: certNotAfter}
		issuer := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "issuer"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, leafKey.Public(), issuerKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: leafKey}
	}
	chain := func() tls.Certificate {
		c := ed25519Cert(t)
		c.Certificate = append(c.Certificate, ed25519Cert(t).Certificate[0])
		return c
	}

	cases := []struct {
		name string
		cert *tls.Certificate
	}{
		{"no certificate", nil},
		{"ECDSA certificate", ptr(ecdsaCert())},
		{"Ed25519 not self-signed", ptr(foreignSigned())},
		{"two certificates", ptr(chain())},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := rawDial(t, b, tc.cert)
			if err == nil {
				// TLS 1.3 lets the client finish before the server has
				// judged its certificate; the refusal then closes the
				// connection right after.
				select {
				case <-c.Context().Done():
					err = context.Cause(c.Context())
				case <-ctxT(t).Done():
					t.Fatal("connection with a bad certificate stayed open")
				}
			}
			var te *quic.TransportError
			if !errors.As(err, &te) || !te.Remote || !te.ErrorCode.IsCryptoError() {
				t.Fatalf("got %v, want a TLS alert from the listener", err)
			}
		})
	}

	t.Run("wrong ALPN", func(t *testing.T) {
		cert := ed25519Cert(t)
		conf := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true,
			NextProtos: []string{"h3"}, Certificates: []tls.Certificate{cert}}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := quic.DialAddr(ctx, addrOf(b), conf, &quic.Config{})
		if err == nil {
			c.CloseWithError(0, "")
			t.Fatal("dial with a foreign ALPN succeeded")
		}
	})

	if s := b.Stats(); s.ConnsAccepted != 0 {
		t.Errorf("b accepted %d bad connections", s.ConnsAccepted)
	}
	if _, err := a.Request(ctxT(t), addrOf(b), b.PublicKey(), "echo", []byte("ok")); err != nil {
		t.Fatalf("good peer after bad ones: %v", err)
	}
	if p := <-handled; !p.Key.Equal(a.PublicKey()) {
		t.Errorf("handler ran for %x", p.Key)
	}
}

func ptr[T any](v T) *T { return &v }

// Junk datagrams and misbehaving streams each fail on their own with a clear
// code, while the transport keeps serving well-behaved peers and even the
// misbehaving connection's good streams.
func TestGarbageFromPeers(t *testing.T) {
	checkLeaks(t)
	a, b := listen(t), listen(t)
	b.Handle("echo", echo)
	sinkErr := make(chan error, 1)
	b.HandleStream("sink", func(_ context.Context, _ Peer, s *Stream) {
		_, err := s.ReadFrame()
		sinkErr <- err
	})
	rng := mrand.New(mrand.NewChaCha8([32]byte{1}))

	// Raw UDP junk at the port: random packets, tiny ones, and ones whose
	// first byte claims a QUIC long or short header.
	u, err := net.Dial("udp", addrOf(b))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		p := make([]byte, []int{1, 7, 25, 1200, 1500}[i%5])
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		switch i % 3 {
		case 0:
			p[0] = 0xc0 | p[0]&0x0f // long header, Initial
			if len(p) >= 5 {
				binary.BigEndian.PutUint32(p[1:], 1) // QUIC v1
			}
		case 1:
			p[0] = 0x40 | p[0]&0x3f // short header
		}
		_, _ = u.Write(p)
	}
	u.Close()

	cert := ed25519Cert(t)
	c, err := rawDial(t, b, &cert)
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 4000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	reqHeader := appendHeader(nil, kindRequest, "echo")

	cases := []struct {
		name string
		data []byte
		fin  bool
		code quic.StreamErrorCode
		want error
	}{
		{"unsupported version", []byte{9, 1, 4, 'e', 'c', 'h', 'o'}, true, codeBadHeader, ErrBadHeader},
		{"bad kind", []byte{1, 77, 4, 'e', 'c', 'h', 'o'}, true, codeBadHeader, ErrBadHeader},
		{"zero-length name", []byte{1, 1, 0, 0, 0, 0, 0}, true, codeBadHeader, ErrBadHeader},
		{"random bytes", random, true, codeBadHeader, ErrBadHeader},
		{"header cut short", reqHeader[:4], true, codeBadHeader, ErrBadHeader},
		{"unknown protocol", appendFrame(appendHeader(nil, kindRequest, "nope"), []byte("x")), true, codeUnknownProtocol, ErrUnknownProtocol},
		{"4 GiB frame", append(append([]byte(nil), reqHeader...), 0xff, 0xff, 0xff, 0xff, 1, 2, 3), false, codeFrameTooLarge, ErrFrameTooLarge},
		{"frame cut short", append(append([]byte(nil), reqHeader...), 0, 0, 1, 0, 'x'), true, codeProtocol, ErrProtocolViolation},
		{"bytes after frame", append(appendFrame(append([]byte(nil), reqHeader...), []byte("x")), 'y'), true, codeProtocol, ErrProtocolViolation},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := c.OpenStreamSync(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Write(tc.data); err != nil {
				t.Fatal(err)
			}
			if tc.fin {
				s.Close()
			}
			_, err = io.ReadAll(s)
			var se *quic.StreamError
			if !errors.As(err, &se) || !se.Remote || se.ErrorCode != tc.code {
				t.Fatalf("got %v, want stream reset with code %d", err, tc.code)
			}
			if mapped := a.mapErr(err); !errors.Is(mapped, tc.want) {
				t.Errorf("maps to %v, want %v", mapped, tc.want)
			}
		})
	}

	t.Run("4 GiB frame on a stream", func(t *testing.T) {
		s, err := c.OpenStreamSync(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		defer s.CancelRead(0)
		hdr := append(appendHeader(nil, kindStream, "sink"), 0xff, 0xff, 0xff, 0xff)
		if _, err := s.Write(hdr); err != nil {
			t.Fatal(err)
		}
		if err := <-sinkErr; !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("handler got %v, want ErrFrameTooLarge", err)
		}
		// The handler stopped our sending; keep writing until we hear it.
		chunk := make([]byte, 16<<10)
		for {
			if _, err = s.Write(chunk); err != nil {
				break
			}
		}
		var fe *FrameTooLargeError
		if !errors.As(a.mapErr(err), &fe) || !fe.Remote {
			t.Fatalf("writer got %v, want the peer's frame limit", err)
		}
	})

	// The same connection still gets good requests answered...
	s, err := c.OpenStreamSync(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Write(appendFrame(append([]byte(nil), reqHeader...), []byte("still fine")))
	s.Close()
	resp, err := io.ReadAll(s)
	if err != nil || string(resp) != "\x00\x00\x00\x00\x0astill fine" {
		t.Fatalf("good request on the same connection: %q %v", resp, err)
	}
	// ...and so do other peers.
	if got, err := a.Request(ctxT(t), addrOf(b), b.PublicKey(), "echo", []byte("hello")); err != nil || string(got) != "hello" {
		t.Fatalf("well-behaved peer: %q %v", got, err)
	}
}

// A peer that opens a stream and never finishes its header loses the stream
// after HandshakeTimeout instead of pinning a goroutine forever.
func TestSilentStreamIsReset(t *testing.T) {
	checkLeaks(t)
	b := listen(t, func(c *Config) { c.HandshakeTimeout = time.Second })
	b.Handle("echo", echo)
	cert := ed25519Cert(t)
	c, err := rawDial(t, b, &cert)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.OpenStreamSync(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte{headerVersion}) // and then nothing
	_, err = io.ReadAll(s)
	var se *quic.StreamError
	if !errors.As(err, &se) || se.ErrorCode != codeBadHeader {
		t.Fatalf("got %v, want reset with codeBadHeader", err)
	}
}
