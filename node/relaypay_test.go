package node

import (
	"crypto/ed25519"
	"testing"
)

func TestRelayReceipt(t *testing.T) {
	for _, c := range []struct {
		last, total, delta uint64
		ok                 bool
	}{
		{0, relayPayMin - 1, relayPayMin - 1, false},
		{0, relayPayMin, relayPayMin, true},
		{relayPayMin, 3 * relayPayMin, 2 * relayPayMin, true},
		{5 * relayPayMin, 2 * relayPayMin, 2 * relayPayMin, true}, // a new tunnel
		{5 * relayPayMin, 5 * relayPayMin, 0, false},
	} {
		if d, ok := relayReceipt(c.last, c.total); d != c.delta || ok != c.ok {
			t.Errorf("relayReceipt(%d, %d) = %d, %v; want %d, %v", c.last, c.total, d, ok, c.delta, c.ok)
		}
	}
	a, _, _ := ed25519.GenerateKey(nil)
	b, _, _ := ed25519.GenerateKey(nil)
	if relayReceiptDigest(a, b, 1) == relayReceiptDigest(a, b, 2) || relayReceiptDigest(a, b, 1) == relayReceiptDigest(b, a, 1) {
		t.Fatal("two receipts share a digest")
	}
}
