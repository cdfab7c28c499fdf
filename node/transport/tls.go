package transport

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// ALPN is the TLS application protocol of every borgios node connection.
// A bump means an incompatible stream header or framing.
const ALPN = "borgios/1"

// certValidity spans the whole range X.509 can express. The certificate is
// only a carrier for the Ed25519 key: identity is the key itself, pinned by
// the dialler, and rotation or revocation happen at the identity layer (the
// owner's signature binding a node key). Validity dates are therefore not
// checked at all, which also keeps a Raspberry Pi without a real-time clock,
// booting in 1970, able to connect.
var (
	certNotBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	certNotAfter  = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC) // RFC 5280 "no expiry"
)

// newCertificate makes the self-signed certificate that carries key.
func newCertificate(key ed25519.PrivateKey) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transport: certificate serial: %w", err)
	}
	pub := key.Public().(ed25519.PublicKey)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "borgios node " + hex.EncodeToString(pub[:8])},
		NotBefore:    certNotBefore,
		NotAfter:     certNotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transport: creating certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transport: parsing own certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// peerKey extracts the Ed25519 key from a peer's certificate list. It accepts
// exactly one self-signed Ed25519 certificate and nothing else. TLS 1.3's
// CertificateVerify already proves the peer holds the private key; the
// self-signature check only makes malformed certificates fail uniformly.
func peerKey(rawCerts [][]byte) (ed25519.PublicKey, error) {
	if len(rawCerts) != 1 {
		return nil, fmt.Errorf("%w: got %d certificates, want 1", ErrBadCertificate, len(rawCerts))
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCertificate, err)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: key type %T", ErrBadCertificate, cert.PublicKey)
	}
	if cert.SignatureAlgorithm != x509.PureEd25519 {
		return nil, fmt.Errorf("%w: signature algorithm %v", ErrBadCertificate, cert.SignatureAlgorithm)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return nil, fmt.Errorf("%w: not self-signed: %w", ErrBadCertificate, err)
	}
	return pub, nil
}

// serverTLS is the listener's configuration: any client must present a
// self-signed Ed25519 certificate; which key it is, is the handlers' business.
func serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{ALPN},
		// RequireAnyClientCert skips chain building: there is no CA. The
		// real check is VerifyPeerCertificate.
		ClientAuth: tls.RequireAnyClientCert,
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			_, err := peerKey(rawCerts)
			return err
		},
		// No resumption: every connection proves its key afresh, and
		// VerifyPeerCertificate is not run on resumed sessions.
		SessionTicketsDisabled: true,
	}
}

// pinnedKey remembers the key a dialled peer actually presented, so a failed
// dial can say who answered even if quic-go's error chain loses the detail.
type pinnedKey struct {
	mu     sync.Mutex
	actual ed25519.PublicKey
}

func (p *pinnedKey) get() ed25519.PublicKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.actual
}

// clientTLS is a per-dial configuration pinning expected. InsecureSkipVerify
// only turns off CA chain and host name checks, which mean nothing here; the
// pin in VerifyPeerCertificate replaces them and always runs.
func clientTLS(cert tls.Certificate, addr string, expected ed25519.PublicKey, seen *pinnedKey) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{cert},
		NextProtos:         []string{ALPN},
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			got, err := peerKey(rawCerts)
			if err != nil {
				return err
			}
			seen.mu.Lock()
			seen.actual = got
			seen.mu.Unlock()
			if !got.Equal(expected) {
				return &WrongPeerKeyError{Addr: addr, Expected: expected, Actual: got}
			}
			return nil
		},
		SessionTicketsDisabled: true,
	}
}

// statelessResetKey derives quic-go's stateless reset key from the node key.
// A node that restarts with the same key can then reset connections its
// previous run left behind, so peers notice the restart on their next packet
// instead of after an idle timeout.
func statelessResetKey(key ed25519.PrivateKey) (*quic.StatelessResetKey, error) {
	b, err := hkdf.Key(sha256.New, key.Seed(), nil, "borgios/transport/stateless-reset/v1", 32)
	if err != nil {
		return nil, fmt.Errorf("transport: deriving stateless reset key: %w", err)
	}
	var k quic.StatelessResetKey
	copy(k[:], b)
	return &k, nil
}
