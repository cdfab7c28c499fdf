package node

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

// protoNode is the transport protocol for node-level messages that belong
// to no cell (greetings).
const protoNode = "node"

const (
	kindHello   = "hello"
	kindHelloOK = "hello-ok"
)

// hello is the payload of a greeting: where the sender can be reached.
type hello struct {
	Addr    string `cbor:"1,keyasint"`
	Version string `cbor:"2,keyasint"`
}

// Greet sends a signed hello to c and verifies the signed answer: the
// transport pins c.Key, and the answer must verify, be bound to our
// request and come from c.Key. It returns the round-trip time.
func (n *Node) Greet(ctx context.Context, c Contact) (time.Duration, error) {
	payload, err := wire.Marshal(hello{Addr: n.tr.Addr().String(), Version: Version})
	if err != nil {
		return 0, err
	}
	req, err := wire.SealEnvelope(n.key, wire.Header{Network: n.cfg.Network, Kind: kindHello, Time: n.cfg.Now()}, payload)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	raw, err := n.tr.Request(ctx, c.Addr, c.Key, protoNode, req.Bytes())
	if err != nil {
		return 0, err
	}
	rtt := time.Since(start)
	ans, err := n.verifier.Verify(raw)
	if err != nil {
		return 0, fmt.Errorf("answer from %s: %w", c.Addr, err)
	}
	if !ans.Sender.Equal(c.Key) {
		return 0, fmt.Errorf("answer from %s signed by %x, not the pinned key", c.Addr, ans.Sender[:8])
	}
	if err := ans.Answers(req); err != nil {
		return 0, fmt.Errorf("answer from %s: %w", c.Addr, err)
	}
	if ans.Kind != kindHelloOK {
		return 0, fmt.Errorf("answer from %s: unexpected kind %q", c.Addr, ans.Kind)
	}
	return rtt, nil
}

// handleNode serves node-level requests. Every request is a signed
// envelope from the key the transport authenticated; anything else is
// refused before it is looked at further.
func (n *Node) handleNode(ctx context.Context, peer transport.Peer, raw []byte) ([]byte, error) {
	env, err := n.verifier.Verify(raw)
	if err != nil {
		n.metrics.hellos.WithLabelValues("in", "refused").Inc()
		return nil, fmt.Errorf("refused: %w", err)
	}
	if !env.Sender.Equal(peer.Key) {
		n.metrics.hellos.WithLabelValues("in", "refused").Inc()
		return nil, errors.New("refused: envelope sender is not the connection's key")
	}
	switch env.Kind {
	case kindHello:
		var h hello
		if err := wire.Unmarshal(env.Payload, &h); err != nil {
			return nil, fmt.Errorf("refused: hello: %w", err)
		}
		n.notePeer(peer.Key, h.Addr, "connected", 0, nil, true)
		n.metrics.hellos.WithLabelValues("in", "ok").Inc()
		return wire.Reply(n.key, env, kindHelloOK, nil, n.cfg.Now())
	default:
		return nil, fmt.Errorf("refused: unknown kind %q", env.Kind)
	}
}

// keepPeer greets c now and then every PeerInterval, recording the result
// so /status shows whether each configured peer is reachable.
func (n *Node) keepPeer(ctx context.Context, c Contact) {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.PeerInterval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rtt, err := n.Greet(rctx, c)
		cancel()
		if ctx.Err() != nil {
			return
		}
		state := "connected"
		switch {
		case errors.Is(err, transport.ErrWrongPeerKey):
			state = "wrong-key"
			n.log.Error("peer answered with a different key; check the contact", "peer", c.String(), "err", err)
		case err != nil:
			state = "unreachable"
			n.log.Warn("peer not reachable", "peer", c.String(), "err", err)
		}
		result := "ok"
		if err != nil {
			result = state
		}
		n.metrics.hellos.WithLabelValues("out", result).Inc()
		n.notePeer(c.Key, c.Addr, state, rtt, err, false)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) notePeer(key ed25519.PublicKey, addr, state string, rtt time.Duration, err error, inbound bool) {
	k := hex.EncodeToString(key)
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.peers[k]
	if p == nil {
		p = &peerState{Key: k}
		n.peers[k] = p
		if state == "connected" {
			n.log.Info("peer connected", "peer", k[:12], "addr", addr, "inbound", inbound)
		}
	}
	p.Addr, p.State, p.Inbound = addr, state, inbound
	p.Error = ""
	if err != nil {
		p.Error = err.Error()
	}
	if rtt > 0 {
		p.RTTMillis = float64(rtt.Microseconds()) / 1000
	}
	if state == "connected" {
		p.LastSeen = time.Now()
	}
}
