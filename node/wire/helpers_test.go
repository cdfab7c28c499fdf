package wire

import (
	"crypto/ed25519"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testNetwork = "borgios-test"
	testWindow  = 30 * time.Second
	testT0      = int64(1_767_225_600_000) // 2026-01-01T00:00:00Z
)

// testKey derives a fixed key so failures reproduce.
func testKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = b + byte(i)
	}
	return ed25519.NewKeyFromSeed(seed)
}

// testClock is network time under the test's control.
type testClock struct{ ms atomic.Int64 }

func newTestClock(ms int64) *testClock {
	c := &testClock{}
	c.ms.Store(ms)
	return c
}

func (c *testClock) Now() int64      { return c.ms.Load() }
func (c *testClock) Set(ms int64)    { c.ms.Store(ms) }
func (c *testClock) Advance(d int64) { c.ms.Add(d) }

func newTestVerifier(clock *testClock) *Verifier {
	return NewVerifier(Config{Network: testNetwork, Window: testWindow, Now: clock.Now})
}

func testHeader(t int64) Header {
	return Header{Network: testNetwork, Cell: "registry", Kind: "lookup", Time: t}
}

func mustSeal(tb testing.TB, priv ed25519.PrivateKey, h Header, payload []byte) []byte {
	tb.Helper()
	b, err := Seal(priv, h, payload)
	if err != nil {
		tb.Fatalf("Seal: %v", err)
	}
	return b
}

func mustDecode(tb testing.TB, b []byte) *Envelope {
	tb.Helper()
	e, err := Decode(b, 0)
	if err != nil {
		tb.Fatalf("Decode: %v", err)
	}
	return e
}

// flip returns a copy of b with one bit of byte i inverted.
func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x01
	return c
}
