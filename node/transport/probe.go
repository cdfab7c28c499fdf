package transport

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
)

// Probe checks that the node with key answers unsolicited packets at addr:
// it runs a full QUIC+TLS handshake (pinning key) from a new UDP socket on
// an ephemeral port and closes the connection at once. Packets from a port
// the node never sent to pass a NAT only if that address is forwarded or
// public, so a peer's Probe of the address it observed for us is the
// reachability test of NAT detection (node/relay). Probe uses nothing of
// the transport but its certificate and settings.
func (t *Transport) Probe(ctx context.Context, addr string, key ed25519.PublicKey) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: peer key has %d bytes", ErrBadKey, len(key))
	}
	ap, err := t.resolve(ctx, addr)
	if err != nil {
		return err
	}
	network := "udp4"
	if ap.Addr().Is6() {
		network = "udp6"
	}
	udp, err := net.ListenUDP(network, nil)
	if err != nil {
		return fmt.Errorf("transport: probe %s: socket: %w", addr, err)
	}
	defer udp.Close()
	qt := newQUICTransport(udp, nil)
	defer qt.Close()
	hctx, cancel := context.WithTimeout(ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	seen := &pinnedKey{}
	c, err := qt.Dial(hctx, net.UDPAddrFromAddrPort(ap), clientTLS(t.cert, addr, key, seen), t.qconf)
	if err != nil {
		if actual := seen.get(); actual != nil && !actual.Equal(key) {
			return &WrongPeerKeyError{Addr: addr, Expected: key, Actual: actual}
		}
		return fmt.Errorf("transport: probe %s: %w", addr, err)
	}
	return c.CloseWithError(codeNoError, "probe done")
}

// punchPacket is what Punch sends: its first two bits are zero, so QUIC
// stacks (quic-go included) drop it as a non-QUIC packet; it only has to
// leave our NAT to open a mapping towards addr.
var punchPacket = []byte{0x00, 'b', 'o', 'r', 'g', 'p', 'u', 'n', 'c', 'h'}

// Punch sends a few throwaway datagrams from the node's own socket to addr,
// so a NAT in front of this node lets addr's packets in for a while: the
// peer at addr then dials us directly while we dial it (hole punching,
// coordinated through a relay by node/relay).
func (t *Transport) Punch(addr string, count int) error {
	ap, err := t.resolve(context.Background(), addr)
	if err != nil {
		return err
	}
	var errs []error
	for range max(count, 1) {
		if _, err := t.qt.WriteTo(punchPacket, net.UDPAddrFromAddrPort(ap)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("transport: punch %s: %w", addr, errors.Join(errs...))
	}
	return nil
}
