package node

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/borgios/borgios/node/transport"
)

// Relays earn for the bandwidth they carry: a node reached through a relay
// counts the bytes its tunnel carried and, every relayPayInterval, signs a
// delivery receipt for the new bytes through the ledger's rewarder, which
// hands it to the relay. The relay's own count is only its word; this
// receipt is the client's, so a relay cannot pay itself.
const (
	relayPayInterval = 10 * time.Minute
	// relayPayMin skips receipts too small to be worth a ledger block.
	relayPayMin = 1 << 20
)

// relayReceipt says how many new bytes to sign for when the tunnel's
// counter reads total and the last receipt covered last. A counter that
// went backwards means a new tunnel (the relay or this node restarted):
// everything on it is new.
func relayReceipt(last, total uint64) (delta uint64, ok bool) {
	if total < last {
		last = 0
	}
	delta = total - last
	return delta, delta >= relayPayMin
}

// relayReceiptDigest names one receipt: the relay, this node and the
// counter it reached, so two receipts never share an ID.
func relayReceiptDigest(relay, me ed25519.PublicKey, total uint64) [32]byte {
	h := sha256.New()
	h.Write([]byte("borgios/relay-receipt/v1\x00"))
	h.Write(relay)
	h.Write(me)
	h.Write(binary.BigEndian.AppendUint64(nil, total))
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// payRelayLoop runs while the node is relayed (see the constants above).
func (n *Node) payRelayLoop(ctx context.Context) {
	defer n.wg.Done()
	t := time.NewTicker(relayPayInterval)
	defer t.Stop()
	var last uint64
	var lastRelay string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		addr := n.nat.Status().Relayed
		relay, _, relayed, err := transport.ParseRelayAddr(addr)
		if !relayed || err != nil || n.rewarder == nil {
			continue
		}
		if string(relay) != lastRelay {
			last, lastRelay = 0, string(relay)
		}
		total := n.tr.TunnelBytes(relay)
		delta, ok := relayReceipt(last, total)
		if !ok {
			continue
		}
		d := relayReceiptDigest(relay, n.PublicKey(), total)
		n.rewarder.Delivery(relay, int64(delta), d, d)
		last = total
	}
}
