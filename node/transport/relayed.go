package transport

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
)

// Relayed connections.
//
// A node that cannot be dialled (behind NAT, no forwarded port) keeps a
// connection to a reachable relay and advertises the relayed address
// "r-RELAYKEY.HOST:PORT" (RelayAddr). A dialler that meets such an address
// opens a ProtoRelay stream to the relay (pinning RELAYKEY), names the node
// it wants, and the relay splices that stream to a ProtoTunnel stream it
// opens to the node on the node's own connection. Both ends then run a
// second, inner QUIC connection over the spliced streams, carrying each
// datagram as a 2-byte length and its bytes. The inner connection is an
// ordinary borgios connection: TLS 1.3 with the node's pinned Ed25519 key,
// the same handlers and pool. So the relay carries only inner-QUIC
// ciphertext: anything it alters fails QUIC's packet authentication and is
// dropped, anything it replays is dropped as a duplicate packet number, and
// it cannot answer for the node because it does not hold the node's key.

// ProtoRelay is the stream protocol a relay serves (node/relay): the
// dialler writes one frame holding the 32-byte key of the node it wants, the
// relay answers one frame (status byte 0 and nothing, or status 1 and an
// error text) and the stream then carries the tunnel.
const ProtoRelay = "relay/1"

// ProtoTunnel is the stream a relay opens to a relayed node for each
// dialler; the transport serves it itself. The first frame is the dialler's
// key as the relay saw it (advisory: the inner handshake is what proves it).
const ProtoTunnel = "relay-tunnel/1"

// relayPrefix starts the host part of a relayed address.
const relayPrefix = "r-"

// Relay answer status bytes.
const (
	relayOK    = 0
	relayError = 1
)

// maxTunnelDatagram bounds one tunnelled datagram (the length is 2 bytes).
const maxTunnelDatagram = 1<<16 - 1

// ErrBadRelayAddr means an address looked relayed ("r-...") but was not a
// valid RelayAddr.
var ErrBadRelayAddr = errors.New("transport: bad relayed address")

// ErrRelayRefused means the relay would not connect us to the node (it is
// not registered there, or a limit was reached); the message says why.
var ErrRelayRefused = errors.New("transport: relay refused")

// RelayAddr is the address of a node reached through the relay with key
// relayKey at relayHostPort (IPv4 or DNS name, and port). It keeps the
// "host:port" shape every address has, so peer trees, registry entries and
// endpoint pools carry it unchanged; only the transport looks inside.
func RelayAddr(relayKey ed25519.PublicKey, relayHostPort string) (string, error) {
	if len(relayKey) != ed25519.PublicKeySize {
		return "", fmt.Errorf("%w: relay key of %d bytes", ErrBadRelayAddr, len(relayKey))
	}
	host, port, err := net.SplitHostPort(relayHostPort)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadRelayAddr, err)
	}
	if err := checkRelayHost(host, port); err != nil {
		return "", err
	}
	return relayPrefix + hex.EncodeToString(relayKey) + "." + host + ":" + port, nil
}

// ParseRelayAddr splits a relayed address into the relay's key and its
// "host:port". isRelayed says whether addr has the relayed form at all; err
// is set when it does but is malformed.
func ParseRelayAddr(addr string) (relayKey ed25519.PublicKey, relayHostPort string, isRelayed bool, err error) {
	if !strings.HasPrefix(addr, relayPrefix) {
		return nil, "", false, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", true, fmt.Errorf("%w %q: %w", ErrBadRelayAddr, addr, err)
	}
	keyHex, rhost, ok := strings.Cut(strings.TrimPrefix(host, relayPrefix), ".")
	if !ok || len(keyHex) != 2*ed25519.PublicKeySize {
		return nil, "", true, fmt.Errorf("%w %q: want r-RELAYKEY.HOST:PORT", ErrBadRelayAddr, addr)
	}
	key, err := hex.DecodeString(keyHex)
	if err != nil {
		return nil, "", true, fmt.Errorf("%w %q: relay key: %w", ErrBadRelayAddr, addr, err)
	}
	if err := checkRelayHost(rhost, port); err != nil {
		return nil, "", true, fmt.Errorf("%q: %w", addr, err)
	}
	hp := net.JoinHostPort(rhost, port)
	// One spelling per relayed address (lowercase key, plain port), so
	// that pools, trees and tables keyed by address never hold the same
	// node twice.
	if canon, _ := RelayAddr(key, hp); canon != addr {
		return nil, "", true, fmt.Errorf("%w %q: not canonical (want %q)", ErrBadRelayAddr, addr, canon)
	}
	return ed25519.PublicKey(key), hp, true, nil
}

// IsRelayed reports whether addr has the relayed form "r-RELAYKEY.HOST:PORT":
// a node reached through a relay, one hop further than its address says.
// Scorers that have not measured such a node yet can rank it accordingly.
func IsRelayed(addr string) bool { return strings.HasPrefix(addr, relayPrefix) }

func checkRelayHost(host, port string) error {
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("%w: port %q", ErrBadRelayAddr, port)
	}
	if host == "" || strings.HasPrefix(host, relayPrefix) {
		return fmt.Errorf("%w: relay host %q (a relay must be directly reachable)", ErrBadRelayAddr, host)
	}
	if ip, err := netip.ParseAddr(host); err == nil && !ip.Is4() {
		// A colon inside the host would break the host:port shape.
		return fmt.Errorf("%w: relay host %s: only IPv4 and DNS names", ErrBadRelayAddr, host)
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return fmt.Errorf("%w: relay host %q", ErrBadRelayAddr, host)
		}
	}
	return nil
}

// dialRelayed connects to (k.via, key) through the relay the address names.
func (t *Transport) dialRelayed(k poolKey, addr string, key ed25519.PublicKey, dc *dialCall) {
	defer t.loops.Done()
	pc, err := t.dialThroughRelay(k, addr, key)
	if err != nil {
		t.log.Debug("relayed dial failed", "addr", addr, "err", err)
	}
	t.mu.Lock()
	delete(t.dialing, k)
	t.mu.Unlock()
	dc.pc, dc.err = pc, err
	close(dc.done)
}

func (t *Transport) dialThroughRelay(k poolKey, addr string, key ed25519.PublicKey) (*peerConn, error) {
	relayKey, relayHostPort, _, err := ParseRelayAddr(addr)
	if err != nil {
		return nil, err
	}
	if relayKey.Equal(key) {
		return nil, fmt.Errorf("%w %q: a node cannot relay for itself", ErrBadRelayAddr, addr)
	}
	hctx, cancel := context.WithTimeout(t.lifetime, t.cfg.HandshakeTimeout)
	defer cancel()
	// The stream lives as long as the tunnel, so it runs on the transport's
	// lifetime; the handshake deadline is applied separately.
	s, err := t.OpenStream(t.lifetime, relayHostPort, relayKey, ProtoRelay)
	if err != nil {
		return nil, fmt.Errorf("transport: relayed dial %s: relay: %w", addr, err)
	}
	fail := func(err error) (*peerConn, error) {
		s.Reset()
		_ = s.Close()
		if t.isClosing() {
			return nil, fmt.Errorf("%w: relayed dial %s: %w", ErrClosed, addr, err)
		}
		return nil, fmt.Errorf("transport: relayed dial %s: %w", addr, err)
	}
	_ = s.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	if err := s.WriteFrame(key); err != nil {
		return fail(err)
	}
	ans, err := s.ReadFrameBuf(nil)
	if err != nil {
		return fail(err)
	}
	if len(ans) == 0 || ans[0] != relayOK {
		msg := "no reason given"
		if len(ans) > 1 {
			msg = strings.ToValidUTF8(string(ans[1:min(len(ans), maxErrorMessage)]), "?")
		}
		return fail(fmt.Errorf("%w: %s", ErrRelayRefused, msg))
	}
	_ = s.SetDeadline(time.Time{})
	tc := newTunnelConn(s, tunnelAddr("relay:"+hex.EncodeToString(key[:8])))
	qt := &quic.Transport{Conn: tc}
	seen := &pinnedKey{}
	c, err := qt.Dial(hctx, tc.RemoteAddr(), clientTLS(t.cert, addr, key, seen), t.qconf)
	if err != nil {
		_ = qt.Close()
		if actual := seen.get(); actual != nil && !actual.Equal(key) {
			return fail(&WrongPeerKeyError{Addr: addr, Expected: key, Actual: actual})
		}
		return fail(err)
	}
	got, kerr := peerKey(rawCerts(c.ConnectionState().TLS.PeerCertificates))
	if kerr == nil && !got.Equal(key) {
		kerr = &WrongPeerKeyError{Addr: addr, Expected: key, Actual: got}
	}
	if kerr != nil {
		_ = c.CloseWithError(codeProtocol, "wrong key")
		_ = qt.Close()
		s.Reset()
		_ = s.Close()
		return nil, kerr
	}
	pc := newPeerConn(c, key)
	pc.key = k
	t.connsDialed.Add(1)
	t.relayedOut.Add(1)
	if !t.register(pc) {
		_ = c.CloseWithError(codeNoError, "node shutting down")
		_ = qt.Close()
		_ = s.Close()
		return nil, ErrClosed
	}
	t.tunnels.Add(1)
	if f := t.onRelayed.Load(); f != nil {
		(*f)(addr, append(ed25519.PublicKey(nil), key...))
	}
	t.loops.Add(1)
	go func() {
		defer t.loops.Done()
		<-c.Context().Done()
		_ = qt.Close()
		s.Reset()
		_ = s.Close()
		t.tunnels.Add(-1)
	}()
	return pc, nil
}

// tunnelSeq labels relayed connections peers open to us, so each has its
// own pool entry.
var tunnelSeq atomic.Uint64

// serveTunnel is the relayed node's side of a tunnel: an inner QUIC server
// for exactly one connection, registered like any accepted connection.
func (t *Transport) serveTunnel(ctx context.Context, peer Peer, s *Stream) {
	_ = s.SetReadDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	first, err := s.ReadFrameBuf(nil)
	if err != nil || len(first) != ed25519.PublicKeySize {
		t.log.Debug("refusing tunnel: bad first frame", "relay", hex.EncodeToString(peer.Key[:8]), "err", err)
		s.Reset()
		return
	}
	_ = s.SetReadDeadline(time.Time{})
	label := fmt.Sprintf("tunnel-%d:%s", tunnelSeq.Add(1), hex.EncodeToString(first[:8]))
	tc := newTunnelConn(s, tunnelAddr(label))
	tc.count = t.tunnelCounter(peer.Key)
	qt := &quic.Transport{Conn: tc}
	defer qt.Close()
	ln, err := qt.Listen(serverTLS(t.cert), t.qconf)
	if err != nil {
		t.log.Debug("tunnel listener failed", "err", err)
		s.Reset()
		return
	}
	defer ln.Close()
	actx, cancel := context.WithTimeout(ctx, t.cfg.HandshakeTimeout)
	c, err := ln.Accept(actx)
	cancel()
	if err != nil {
		t.log.Debug("tunnel handshake failed", "relay", hex.EncodeToString(peer.Key[:8]), "err", err)
		s.Reset()
		return
	}
	key, err := peerKey(rawCerts(c.ConnectionState().TLS.PeerCertificates))
	if err != nil {
		_ = c.CloseWithError(codeProtocol, "bad certificate")
		return
	}
	t.connsAccepted.Add(1)
	t.relayedIn.Add(1)
	pc := newPeerConn(c, key)
	pc.key.via = label
	if !t.register(pc) {
		_ = c.CloseWithError(codeNoError, "node shutting down")
		return
	}
	t.tunnels.Add(1)
	defer t.tunnels.Add(-1)
	select {
	case <-c.Context().Done():
	case <-ctx.Done():
		_ = c.CloseWithError(codeNoError, "tunnel closed")
	}
}

// maxTunnelCounters bounds the relays whose byte counts are kept.
const maxTunnelCounters = 64

// tunnelCounter returns the byte counter of tunnels relay opened to us.
func (t *Transport) tunnelCounter(relay ed25519.PublicKey) *atomic.Uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := [ed25519.PublicKeySize]byte(relay)
	if c := t.tunnelBytes[k]; c != nil {
		return c
	}
	c := new(atomic.Uint64)
	if t.tunnelBytes == nil {
		t.tunnelBytes = map[[ed25519.PublicKeySize]byte]*atomic.Uint64{}
	}
	if len(t.tunnelBytes) < maxTunnelCounters {
		t.tunnelBytes[k] = c
	}
	return c
}

// TunnelBytes is how many bytes the relay with key relay carried for us
// in the tunnels it opened to this node, as we count them: every tunnelled
// datagram with its 2-byte length, both directions, since the transport
// started. A relay counts the same bytes on its side, so a node can sign
// this figure as a receipt for the relay's bandwidth (node/relay does, with
// each registration renewal).
func (t *Transport) TunnelBytes(relay ed25519.PublicKey) uint64 {
	if len(relay) != ed25519.PublicKeySize {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.tunnelBytes[[ed25519.PublicKeySize]byte(relay)]; c != nil {
		return c.Load()
	}
	return 0
}

// tunnelAddr names the far end of a tunnel; it is not a UDP address.
type tunnelAddr string

func (a tunnelAddr) Network() string { return "relay" }
func (a tunnelAddr) String() string  { return string(a) }

// tunnelConn is a net.PacketConn whose datagrams travel on one stream
// through a relay, each as a 2-byte big-endian length and the bytes. It has
// exactly one remote end. quic-go reads from one goroutine and may write
// from several.
type tunnelConn struct {
	s      *Stream
	remote net.Addr
	count  *atomic.Uint64 // bytes both ways incl. length prefixes (served tunnels only)

	rmu sync.Mutex
	br  *bufio.Reader

	wmu  sync.Mutex
	wbuf []byte
}

func newTunnelConn(s *Stream, remote net.Addr) *tunnelConn {
	return &tunnelConn{s: s, remote: remote, br: bufio.NewReaderSize(s, 64<<10)}
}

// ReadFrom returns the next datagram; one larger than p is cut to len(p),
// as a UDP socket would.
func (c *tunnelConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	var hdr [2]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return 0, nil, err
	}
	size := int(binary.BigEndian.Uint16(hdr[:]))
	n, err := io.ReadFull(c.br, p[:min(size, len(p))])
	if err != nil {
		return n, nil, err
	}
	if c.count != nil {
		c.count.Add(uint64(2 + size))
	}
	if size > n {
		if _, err := c.br.Discard(size - n); err != nil {
			return n, nil, err
		}
	}
	return n, c.remote, nil
}

// WriteTo sends p to the tunnel's one remote end, whatever addr says.
func (c *tunnelConn) WriteTo(p []byte, _ net.Addr) (int, error) {
	if len(p) > maxTunnelDatagram {
		return 0, fmt.Errorf("transport: tunnel datagram of %d bytes", len(p))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = binary.BigEndian.AppendUint16(c.wbuf[:0], uint16(len(p)))
	c.wbuf = append(c.wbuf, p...)
	if _, err := c.s.Write(c.wbuf); err != nil {
		return 0, err
	}
	if c.count != nil {
		c.count.Add(uint64(len(c.wbuf)))
	}
	return len(p), nil
}

func (c *tunnelConn) Close() error                       { c.s.Reset(); return nil }
func (c *tunnelConn) LocalAddr() net.Addr                { return tunnelAddr("tunnel-local") }
func (c *tunnelConn) RemoteAddr() net.Addr               { return c.remote }
func (c *tunnelConn) SetDeadline(t time.Time) error      { return c.s.SetDeadline(t) }
func (c *tunnelConn) SetReadDeadline(t time.Time) error  { return c.s.SetReadDeadline(t) }
func (c *tunnelConn) SetWriteDeadline(t time.Time) error { return c.s.SetWriteDeadline(t) }

// SetReadBuffer and SetWriteBuffer exist so quic-go does not warn about
// socket buffers: a stream has no such buffer to size.
func (c *tunnelConn) SetReadBuffer(int) error  { return nil }
func (c *tunnelConn) SetWriteBuffer(int) error { return nil }
