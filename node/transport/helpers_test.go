package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

func TestMain(m *testing.M) {
	// The sandbox may not let quic-go enlarge UDP buffers; its one-line
	// warning is expected there and only clutters test output.
	if os.Getenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING") == "" {
		os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	}
	os.Exit(m.Run())
}

func newKey(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// testLogger discards logs unless BORGIOS_TEST_LOG is set, because handler
// goroutines may log after a failing test has finished.
func testLogger() *slog.Logger {
	if os.Getenv("BORGIOS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// listen starts a Transport on 127.0.0.1 and closes it at the end of the test.
func listen(tb testing.TB, mods ...func(*Config)) *Transport {
	tb.Helper()
	cfg := Config{Key: newKey(tb), ListenAddr: "127.0.0.1:0", Logger: testLogger()}
	for _, m := range mods {
		m(&cfg)
	}
	tr, err := Listen(cfg)
	if err != nil {
		tb.Fatalf("Listen: %v", err)
	}
	tb.Cleanup(func() { _ = tr.Close() })
	return tr
}

func addrOf(tr *Transport) string { return tr.Addr().String() }

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds; the long deadline only turns a hang
// into a failure, it is not a performance expectation.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkLeaks fails the test if goroutines of quic-go or of this package are
// still around once every Transport is closed. Call it first in a test, so
// its cleanup runs last. Runtime and testing goroutines are ignored.
func checkLeaks(t *testing.T) {
	t.Cleanup(func() {
		deadline := time.Now().Add(20 * time.Second)
		for {
			leaked := leakedGoroutines()
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func leakedGoroutines() []string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "transport.leakedGoroutines") {
			continue
		}
		if strings.Contains(g, "github.com/quic-go/quic-go") ||
			strings.Contains(g, "borgios/node/transport.(*") {
			out = append(out, g)
		}
	}
	return out
}

// rawDial is a bare quic-go client, for playing a misbehaving peer. cert may
// be nil (no client certificate).
func rawDial(tb testing.TB, tr *Transport, cert *tls.Certificate) (*quic.Conn, error) {
	tb.Helper()
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // this client plays an attacker; it does not care who answers
		NextProtos:         []string{ALPN},
	}
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := quic.DialAddr(ctx, addrOf(tr), conf, &quic.Config{})
	if err == nil {
		tb.Cleanup(func() { _ = c.CloseWithError(0, "") })
	}
	return c, err
}

func ed25519Cert(tb testing.TB) tls.Certificate {
	tb.Helper()
	c, err := newCertificate(newKey(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func echo(_ context.Context, _ Peer, req []byte) ([]byte, error) { return req, nil }
