package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

func TestPeerKey(t *testing.T) {
	key := newKey(t)
	cert, err := newCertificate(key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := peerKey(cert.Certificate)
	if err != nil || !got.Equal(key.Public()) {
		t.Fatalf("own certificate: %x %v", got, err)
	}
	if _, err := peerKey(nil); !errors.Is(err, ErrBadCertificate) {
		t.Errorf("no certificate: %v", err)
	}
	if _, err := peerKey([][]byte{{0x30, 0x03, 1, 2, 3}}); !errors.Is(err, ErrBadCertificate) {
		t.Errorf("junk DER: %v", err)
	}

	// Validity dates are deliberately ignored: a certificate that expired
	// in 2001 still carries a good key.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "old"},
		NotBefore: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := peerKey([][]byte{der}); err != nil || !got.Equal(key.Public()) {
		t.Errorf("expired certificate: %v", err)
	}
}

func TestStatelessResetKeyIsStablePerNodeKey(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	a, _ := statelessResetKey(k1)
	b, _ := statelessResetKey(k1)
	c, _ := statelessResetKey(k2)
	if *a != *b || *a == *c {
		t.Error("stateless reset key must be a function of the node key alone")
	}
}

// A listener that is not a borgios node (here an ECDSA certificate) is
// refused by the dialler even before the key comparison.
func TestDialRefusesNonEd25519Server(t *testing.T) {
	checkLeaks(t)
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: certNotBefore, NotAfter: certNotAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}},
		NextProtos:   []string{ALPN},
		ClientAuth:   tls.RequireAnyClientCert,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			c.CloseWithError(0, "")
		}
	}()

	a := listen(t)
	someKey := newKey(t).Public().(ed25519.PublicKey)
	_, err = a.Request(ctxT(t), ln.Addr().String(), someKey, "echo", nil)
	if !errors.Is(err, ErrBadCertificate) || errors.Is(err, ErrWrongPeerKey) {
		t.Fatalf("got %v, want ErrBadCertificate", err)
	}
}
