package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
)

// Defaults for zero Config fields.
const (
	DefaultIdleTimeout      = 30 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultDrainTimeout     = 5 * time.Second
	DefaultMaxStreams       = 256
)

// Config configures a Transport. Only Key is required.
type Config struct {
	// Key is the node's Ed25519 key; its public half is the node's identity
	// on the network and the key peers pin when they dial us.
	Key ed25519.PrivateKey
	// ListenAddr is the UDP address to bind, e.g. ":7446" or "127.0.0.1:0".
	// Empty means ":0". The same socket dials out, so a node behind NAT
	// talks from the port it forwards.
	ListenAddr string
	// MaxFrame limits every frame this node reads, and every frame it
	// writes (the peer is assumed to use the same limit). 0 means
	// DefaultMaxFrame; at most 1 GiB.
	MaxFrame int
	// IdleTimeout closes a connection that hears nothing for this long;
	// keepalives make that mean "the peer is gone". 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the QUIC+TLS handshake and the time a peer
	// has to send a stream header once it opened a stream.
	// 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// KeepAlivePeriod is how often an otherwise idle connection pings, which
	// also keeps NAT mappings open. 0 means IdleTimeout/2; negative disables.
	KeepAlivePeriod time.Duration
	// DrainTimeout is how long Close lets running handlers finish before it
	// cancels their contexts. 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// MaxStreams is how many streams a peer may have open to us at once on
	// one connection; further ones wait in the peer's OpenStream.
	// 0 means DefaultMaxStreams.
	MaxStreams int
	// Logger receives connection and stream problems. nil means slog.Default().
	Logger *slog.Logger
}

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return cfg, fmt.Errorf("%w: private key has %d bytes, want %d", ErrBadKey, len(cfg.Key), ed25519.PrivateKeySize)
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = ":0"
	}
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.MaxFrame < 0 || cfg.MaxFrame > maxFrameLimit {
		return cfg, fmt.Errorf("transport: MaxFrame %d not in 1..%d", cfg.MaxFrame, maxFrameLimit)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.KeepAlivePeriod == 0 {
		cfg.KeepAlivePeriod = cfg.IdleTimeout / 2
	}
	if cfg.KeepAlivePeriod < 0 {
		cfg.KeepAlivePeriod = 0
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// Peer is the other end of a connection. Key is verified by the TLS
// handshake; Addr is where its packets come from (after any NAT).
type Peer struct {
	Key  ed25519.PublicKey
	Addr net.Addr
}

// Handler serves one request (or one Send message, whose answer is dropped).
// ctx ends when the requester gives up, the connection dies or the
// Transport stops draining. A returned error reaches the requester as a
// *RemoteError carrying err.Error().
type Handler func(ctx context.Context, peer Peer, req []byte) ([]byte, error)

// StreamHandler serves one stream opened by a peer with OpenStream. ctx ends
// when the peer resets the stream, the connection dies or the Transport stops
// draining. The transport closes s when the handler returns.
type StreamHandler func(ctx context.Context, peer Peer, s *Stream)

type route struct {
	h  Handler
	sh StreamHandler
}

// Stats are cumulative counters, for the monitor.
type Stats struct {
	ConnsDialed   uint64 // outgoing handshakes that verified the pinned key
	ConnsAccepted uint64 // incoming handshakes with a valid client certificate
	OpenConns     int    // connections alive now, both directions
	StreamsIn     uint64 // streams peers opened to us
	StreamsOut    uint64 // streams we opened
	RelayedIn     uint64 // relayed connections peers opened to us through a relay
	RelayedOut    uint64 // relayed connections we opened through a relay
}

// Transport is one node's endpoint: a UDP socket, a QUIC listener on it, a
// pool of connections to peers, and the protocol handlers. All methods are
// safe for concurrent use.
type Transport struct {
	cfg      Config
	log      *slog.Logger
	pub      ed25519.PublicKey
	cert     tls.Certificate
	qconf    *quic.Config
	udp      *net.UDPConn
	qt       *quic.Transport
	ln       *quic.Listener
	ipv4Only bool // the socket cannot reach IPv6 destinations

	// lifetime ends at the very end of Close and aborts dials in flight.
	lifetime context.Context
	stopAll  context.CancelFunc
	// handlerBase is the parent of every handler context; Close cancels it
	// when DrainTimeout runs out.
	handlerBase   context.Context
	stopHandlers  context.CancelFunc
	handlers      sync.WaitGroup // running serveStream goroutines
	loops         sync.WaitGroup // accept loops and dial goroutines
	closeOnce     sync.Once
	closeErr      error
	closingFlag   atomic.Bool
	routesMu      sync.RWMutex
	routes        map[string]route
	mu            sync.Mutex // guards the fields below and WaitGroup.Add after Close began
	closing       bool
	pool          map[poolKey]*peerConn // the connection to use per (addr, key)
	conns         map[*peerConn]struct{}
	dialing       map[poolKey]*dialCall
	connsGone     chan struct{} // closed when conns empties after Close began
	connsDialed   atomic.Uint64
	connsAccepted atomic.Uint64
	streamsIn     atomic.Uint64
	streamsOut    atomic.Uint64
	relayedIn     atomic.Uint64
	relayedOut    atomic.Uint64
	tunnels       atomic.Int64 // relayed connections open now, both directions
	advertised    atomic.Pointer[string]
	shortcuts     map[string]netip.AddrPort // relayed address -> direct address found by hole punching; guarded by mu
	onRelayed     atomic.Pointer[func(addr string, key ed25519.PublicKey)]
	tunnelBytes   map[[ed25519.PublicKeySize]byte]*atomic.Uint64 // per relay key, tunnels served; guarded by mu
}

// poolKey names a peer: the same key at another address is another entry,
// because the caller asked for that address.
type poolKey struct {
	addr netip.AddrPort
	// via is the relayed address ("r-RELAYKEY.HOST:PORT") for connections
	// tunnelled through a relay, or a per-tunnel label for relayed
	// connections peers opened to us; empty for direct UDP connections.
	via string
	key [ed25519.PublicKeySize]byte
}

type peerConn struct {
	conn *quic.Conn
	peer Peer
	key  poolKey

	mu        sync.Mutex
	active    int  // streams we opened on conn and have not finished
	goingAway bool // the peer sent goaway: open nothing new, close when idle
}

// alive reports whether the connection has not been closed yet. A connection
// whose peer vanished stays "alive" until the idle timeout or a stateless
// reset tells quic-go.
func (pc *peerConn) alive() bool { return pc.conn.Context().Err() == nil }

// usable reports whether new streams may be opened on pc.
func (pc *peerConn) usable() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return !pc.goingAway && pc.alive()
}

// acquire counts a stream we are about to open; false after goaway.
func (pc *peerConn) acquire() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.goingAway {
		return false
	}
	pc.active++
	return true
}

// release ends a stream counted by acquire. The last one to end after a
// goaway closes the connection: by then we have read every answer we
// wanted, so nothing the peer still needs to deliver is lost.
func (pc *peerConn) release() {
	pc.mu.Lock()
	pc.active--
	last := pc.goingAway && pc.active == 0
	pc.mu.Unlock()
	if last {
		_ = pc.conn.CloseWithError(codeNoError, "goaway: done")
	}
}

// goAway records the peer's goaway and closes the connection if idle.
func (pc *peerConn) goAway() {
	pc.mu.Lock()
	pc.goingAway = true
	idle := pc.active == 0
	pc.mu.Unlock()
	if idle {
		_ = pc.conn.CloseWithError(codeNoError, "goaway: done")
	}
}

type dialCall struct {
	done chan struct{}
	pc   *peerConn
	err  error
}

// Listen binds cfg.ListenAddr and starts accepting connections. Handlers may
// be registered before or after; a stream for an unregistered protocol is
// refused with ErrUnknownProtocol at the opener.
func Listen(cfg Config) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	pub := cfg.Key.Public().(ed25519.PublicKey)
	cert, err := newCertificate(cfg.Key)
	if err != nil {
		return nil, err
	}
	resetKey, err := statelessResetKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	laddr, err := net.ResolveUDPAddr("udp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen address %q: %w", cfg.ListenAddr, err)
	}
	udp, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %s: %w", cfg.ListenAddr, err)
	}
	bound := udp.LocalAddr().(*net.UDPAddr)
	t := &Transport{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "transport", "node", hex.EncodeToString(pub[:8])),
		pub:      pub,
		cert:     cert,
		udp:      udp,
		ipv4Only: bound.IP.To4() != nil && !bound.IP.IsUnspecified(),
		routes:   make(map[string]route),
		pool:     make(map[poolKey]*peerConn),
		conns:    make(map[*peerConn]struct{}),
		dialing:  make(map[poolKey]*dialCall),
	}
	t.qconf = quicConfig(cfg)
	t.qt = newQUICTransport(udp, resetKey)
	t.ln, err = t.qt.Listen(serverTLS(cert), t.qconf)
	if err != nil {
		_ = t.qt.Close()
		_ = udp.Close()
		return nil, fmt.Errorf("transport: starting QUIC listener: %w", err)
	}
	t.lifetime, t.stopAll = context.WithCancel(context.Background())
	t.handlerBase, t.stopHandlers = context.WithCancel(t.lifetime)
	t.routes[ProtoTunnel] = route{sh: t.serveTunnel}
	t.loops.Add(1)
	go t.acceptConns()
	t.log.Debug("listening", "addr", udp.LocalAddr().String())
	return t, nil
}

// quicConfig is the QUIC configuration for both directions.
func quicConfig(cfg Config) *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:  cfg.HandshakeTimeout,
		MaxIdleTimeout:        cfg.IdleTimeout,
		KeepAlivePeriod:       cfg.KeepAlivePeriod,
		MaxIncomingStreams:    int64(cfg.MaxStreams),
		MaxIncomingUniStreams: -1, // every borgios stream is bidirectional
		// Flow control must not be what limits a long fat link: 1 Gbit/s
		// at 70 ms RTT holds 8.75 MB in flight. quic-go starts at 512 KiB
		// and auto-tunes upwards one RTT at a time, which costs several
		// round trips on exactly the transfers people wait for (a 30 MB
		// video). Start larger and allow one bandwidth-delay product per
		// stream; the windows are credit, not allocations: memory is used
		// only for bytes received and not yet read.
		InitialStreamReceiveWindow:     initialStreamWindow,
		InitialConnectionReceiveWindow: initialConnWindow,
		MaxStreamReceiveWindow:         maxStreamWindow,
		MaxConnectionReceiveWindow:     maxConnWindow,
	}
}

// Receive windows (see quicConfig).
const (
	initialStreamWindow = 2 << 20
	initialConnWindow   = 4 << 20
	maxStreamWindow     = 16 << 20
	maxConnWindow       = 24 << 20
)

// Addr is how peers reach this node: the address given to SetAdvertised
// (an observed public address, or a relayed address "r-RELAYKEY.HOST:PORT")
// once NAT detection has set one, else the bound UDP socket, which with
// ListenAddr ":0" holds the real port. Cells, the registry and greetings
// publish Addr().String(), so they publish the advertised form.
func (t *Transport) Addr() net.Addr {
	if a := t.advertised.Load(); a != nil {
		return advertisedAddr(*a)
	}
	return t.udp.LocalAddr()
}

// LocalAddr is the bound UDP socket, whatever is advertised.
func (t *Transport) LocalAddr() net.Addr { return t.udp.LocalAddr() }

// SetAdvertised sets what Addr reports; "" reverts to the bound socket. It
// does not change what the transport listens on.
func (t *Transport) SetAdvertised(addr string) {
	if addr == "" {
		t.advertised.Store(nil)
		return
	}
	t.advertised.Store(&addr)
}

// advertisedAddr is a net.Addr that is only a string: a relayed address is
// not a UDP address.
type advertisedAddr string

func (a advertisedAddr) Network() string { return "udp" }
func (a advertisedAddr) String() string  { return string(a) }

// PublicKey is this node's key, the one peers must pin to reach it.
func (t *Transport) PublicKey() ed25519.PublicKey { return t.pub }

// MaxFrame is the effective frame size limit.
func (t *Transport) MaxFrame() int { return t.cfg.MaxFrame }

// Handle registers h for requests and messages naming proto, replacing any
// handler for proto; a nil h removes it. It panics on an invalid name, which
// is a programming error.
func (t *Transport) Handle(proto string, h Handler) {
	t.setRoute(proto, route{h: h})
}

// HandleStream registers h for streams naming proto, replacing any handler
// for proto; a nil h removes it. It panics on an invalid name.
func (t *Transport) HandleStream(proto string, h StreamHandler) {
	t.setRoute(proto, route{sh: h})
}

func (t *Transport) setRoute(proto string, r route) {
	if err := validProtocol(proto); err != nil {
		panic(err)
	}
	t.routesMu.Lock()
	defer t.routesMu.Unlock()
	if r.h == nil && r.sh == nil {
		delete(t.routes, proto)
		return
	}
	t.routes[proto] = r
}

func (t *Transport) route(proto string) route {
	t.routesMu.RLock()
	defer t.routesMu.RUnlock()
	return t.routes[proto]
}

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	t.mu.Lock()
	open := len(t.conns)
	t.mu.Unlock()
	return Stats{
		ConnsDialed:   t.connsDialed.Load(),
		ConnsAccepted: t.connsAccepted.Load(),
		OpenConns:     open,
		StreamsIn:     t.streamsIn.Load(),
		StreamsOut:    t.streamsOut.Load(),
		RelayedIn:     t.relayedIn.Load(),
		RelayedOut:    t.relayedOut.Load(),
	}
}

func (t *Transport) isClosing() bool { return t.closingFlag.Load() }

// Close shuts the transport down gracefully: it stops accepting connections,
// tells every peer it is going away (peers then fail new requests to it at
// once with ErrPeerClosed, and close each connection when their last stream
// on it is done), lets running handlers finish, waits for the peers to close,
// and after DrainTimeout cancels what is left: handler contexts first, then
// the connections with application error 0. It then releases the socket and
// waits for all of its goroutines. New requests from this node fail with
// ErrClosed as soon as Close begins. Close is idempotent. A handler must not
// call Close: Close waits for handlers.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() { t.closeErr = t.shutdown() })
	return t.closeErr
}

func (t *Transport) shutdown() error {
	t.mu.Lock()
	t.closing = true
	t.closingFlag.Store(true)
	t.connsGone = make(chan struct{})
	if len(t.conns) == 0 {
		close(t.connsGone)
	}
	conns := t.connList()
	t.mu.Unlock()

	var errs []error
	if err := t.ln.Close(); err != nil {
		errs = append(errs, fmt.Errorf("transport: closing listener: %w", err))
	}
	for _, pc := range conns {
		sendGoAway(pc)
	}

	drained := make(chan struct{})
	go func() {
		t.handlers.Wait()
		close(drained)
	}()
	grace, cancel := context.WithTimeout(context.Background(), t.cfg.DrainTimeout)
	defer cancel()
	select {
	case <-drained:
		select {
		case <-t.connsGone:
		case <-grace.Done():
			t.log.Debug("peers did not close their connections within the drain timeout")
		}
	case <-grace.Done():
		t.log.Warn("handlers still running after drain timeout; cancelling them", "timeout", t.cfg.DrainTimeout)
	}
	t.stopHandlers()

	// Whatever is still open now gets closed by us; this also unblocks
	// handlers stuck in stream I/O that ignore their context.
	t.mu.Lock()
	conns = t.connList()
	t.mu.Unlock()
	var wg sync.WaitGroup
	for _, pc := range conns {
		wg.Go(func() { _ = pc.conn.CloseWithError(codeNoError, "node shutting down") })
	}
	wg.Wait()
	<-drained
	t.stopAll()

	if err := t.qt.Close(); err != nil {
		errs = append(errs, fmt.Errorf("transport: closing QUIC transport: %w", err))
	}
	if err := t.udp.Close(); err != nil {
		errs = append(errs, fmt.Errorf("transport: closing socket: %w", err))
	}
	t.loops.Wait()
	return errors.Join(errs...)
}

func (t *Transport) connList() []*peerConn {
	out := make([]*peerConn, 0, len(t.conns))
	for pc := range t.conns {
		out = append(out, pc)
	}
	return out
}

// sendGoAway announces our shutdown on pc. It never blocks: if the stream
// limit or flow control leave no room, the peer simply learns of the
// shutdown from the connection close at the end of the drain.
func sendGoAway(pc *peerConn) {
	qs, err := pc.conn.OpenStream()
	if err != nil {
		return
	}
	if err := qs.TryWriteAll(appendHeader(nil, kindGoAway, "")); err != nil {
		reset(qs, codeShuttingDown)
		return
	}
	_ = qs.Close()
	qs.CancelRead(codeNoError)
}

// acceptConns registers every incoming connection and serves its streams.
func (t *Transport) acceptConns() {
	defer t.loops.Done()
	for {
		c, err := t.ln.Accept(context.Background())
		if err != nil {
			return // listener closed
		}
		state := c.ConnectionState().TLS
		key, err := peerKey(rawCerts(state.PeerCertificates))
		if err != nil {
			// The TLS config already refused such peers; this is a guard
			// against a future config change, not an expected path.
			t.log.Warn("accepted connection without a valid key", "remote", c.RemoteAddr().String(), "err", err)
			_ = c.CloseWithError(codeProtocol, "bad certificate")
			continue
		}
		t.connsAccepted.Add(1) // before register: its streams may finish first
		pc := newPeerConn(c, key)
		if !t.register(pc) {
			_ = c.CloseWithError(codeNoError, "node shutting down")
			continue
		}
		t.log.Debug("connection accepted", "peer", hex.EncodeToString(key[:8]), "remote", c.RemoteAddr().String())
	}
}

func rawCerts(certs []*x509.Certificate) [][]byte {
	out := make([][]byte, len(certs))
	for i, c := range certs {
		out[i] = c.Raw
	}
	return out
}

func newPeerConn(c *quic.Conn, key ed25519.PublicKey) *peerConn {
	pc := &peerConn{conn: c, peer: Peer{Key: key, Addr: c.RemoteAddr()}}
	if ua, ok := c.RemoteAddr().(*net.UDPAddr); ok {
		pc.key.addr = normalize(ua.AddrPort())
	}
	copy(pc.key.key[:], key)
	return pc
}

func normalize(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// register adds a live connection to the pool and starts serving the streams
// the peer opens on it; incoming connections are reusable for our own
// requests too, which is what lets us reach a peer behind NAT. It returns
// false if the transport is closing.
func (t *Transport) register(pc *peerConn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.conns[pc] = struct{}{}
	if cur := t.pool[pc.key]; cur == nil || !cur.usable() {
		t.pool[pc.key] = pc
	}
	t.loops.Add(1)
	go t.serveConn(pc)
	return true
}

func (t *Transport) forget(pc *peerConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, pc)
	if t.pool[pc.key] == pc {
		delete(t.pool, pc.key)
	}
	if t.closing && len(t.conns) == 0 {
		select {
		case <-t.connsGone:
		default:
			close(t.connsGone)
		}
	}
}

// evict takes pc out of the pool, so the next connect dials afresh. pc stays
// in t.conns until its serving loop sees it die.
func (t *Transport) evict(pc *peerConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pool[pc.key] == pc {
		delete(t.pool, pc.key)
	}
}

// serveConn accepts the streams a peer opens on pc until pc dies.
func (t *Transport) serveConn(pc *peerConn) {
	defer t.loops.Done()
	defer t.forget(pc)
	for {
		qs, err := pc.conn.AcceptStream(context.Background())
		if err != nil {
			t.log.Debug("connection ended", "peer", hex.EncodeToString(pc.peer.Key[:8]), "err", err)
			return
		}
		t.streamsIn.Add(1)
		if !t.startHandler() {
			reset(qs, codeShuttingDown)
			continue
		}
		go t.serveStream(pc, qs)
	}
}

// startHandler counts a new stream goroutine unless Close has begun; the
// check and the Add share t.mu so Close never waits on a growing group.
func (t *Transport) startHandler() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.handlers.Add(1)
	return true
}

// connect returns a live connection to (addr, key), dialling if the pool has
// none. Concurrent callers for the same peer share one dial. reused is true
// if the connection existed before this call: a reused connection may have
// died without quic-go knowing yet, which is when one retry is worth it.
func (t *Transport) connect(ctx context.Context, addr string, key ed25519.PublicKey) (pc *peerConn, reused bool, err error) {
	if len(key) != ed25519.PublicKeySize {
		return nil, false, fmt.Errorf("%w: peer key has %d bytes, want %d", ErrBadKey, len(key), ed25519.PublicKeySize)
	}
	if err := context.Cause(ctx); err != nil {
		return nil, false, fmt.Errorf("transport: connecting to %s: %w", addr, err)
	}
	var k poolKey
	if _, _, isRelayed, perr := ParseRelayAddr(addr); isRelayed {
		if perr != nil {
			return nil, false, perr
		}
		k.via = addr
		if pc := t.shortcut(addr, key); pc != nil {
			return pc, true, nil
		}
	} else {
		ap, err := t.resolve(ctx, addr)
		if err != nil {
			return nil, false, err
		}
		k.addr = ap
	}
	copy(k.key[:], key)

	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		return nil, false, ErrClosed
	}
	if cur := t.pool[k]; cur != nil && cur.alive() {
		t.mu.Unlock()
		if !cur.usable() {
			// Failing fast beats dialling a node that has closed its
			// listener: that dial would only time out.
			return nil, false, fmt.Errorf("%w: %s is shutting down", ErrPeerClosed, addr)
		}
		return cur, true, nil
	}
	dc := t.dialing[k]
	if dc == nil {
		dc = &dialCall{done: make(chan struct{})}
		t.dialing[k] = dc
		t.loops.Add(1)
		// The dial runs on its own goroutine and the transport's lifetime,
		// not the caller's context: one impatient caller must not fail the
		// others waiting on the same dial.
		if k.via != "" {
			go t.dialRelayed(k, addr, append(ed25519.PublicKey(nil), key...), dc)
		} else {
			go t.dial(k, addr, append(ed25519.PublicKey(nil), key...), dc)
		}
	}
	t.mu.Unlock()

	select {
	case <-dc.done:
		return dc.pc, false, dc.err
	case <-ctx.Done():
		return nil, false, fmt.Errorf("transport: waiting for connection to %s: %w", addr, context.Cause(ctx))
	}
}

func (t *Transport) dial(k poolKey, addr string, key ed25519.PublicKey, dc *dialCall) {
	defer t.loops.Done()
	seen := &pinnedKey{}
	c, err := t.qt.Dial(t.lifetime, net.UDPAddrFromAddrPort(k.addr), clientTLS(t.cert, addr, key, seen), t.qconf)
	var pc *peerConn
	switch {
	case err != nil:
		var wrong *WrongPeerKeyError
		if actual := seen.get(); !errors.As(err, &wrong) && actual != nil && !actual.Equal(key) {
			wrong = &WrongPeerKeyError{Addr: addr, Expected: key, Actual: actual}
		}
		if wrong != nil {
			err = wrong
		} else if t.isClosing() {
			err = fmt.Errorf("%w: dial %s: %w", ErrClosed, addr, err)
		} else {
			err = fmt.Errorf("transport: dial %s: %w", addr, err)
		}
	default:
		// The pin already ran in the handshake; checking the negotiated
		// state again costs nothing and guards against a resumed session
		// ever slipping past VerifyPeerCertificate.
		got, kerr := peerKey(rawCerts(c.ConnectionState().TLS.PeerCertificates))
		if kerr == nil && !got.Equal(key) {
			kerr = &WrongPeerKeyError{Addr: addr, Expected: key, Actual: got}
		}
		if kerr != nil {
			_ = c.CloseWithError(codeProtocol, "wrong key")
			err = kerr
			break
		}
		pc = newPeerConn(c, key)
		pc.key = k // keep the caller's address form, the one later lookups use
		t.connsDialed.Add(1)
		if !t.register(pc) {
			_ = c.CloseWithError(codeNoError, "node shutting down")
			pc, err = nil, ErrClosed
			break
		}
	}
	if err != nil {
		t.log.Debug("dial failed", "addr", addr, "err", err)
	}
	t.mu.Lock()
	delete(t.dialing, k)
	t.mu.Unlock()
	dc.pc, dc.err = pc, err
	close(dc.done)
}

// resolve turns "host:port" into the address form used as pool key.
func (t *Transport) resolve(ctx context.Context, addr string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return normalize(ap), nil
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("transport: address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		p, lerr := net.DefaultResolver.LookupPort(ctx, "udp", portStr)
		if lerr != nil {
			return netip.AddrPort{}, fmt.Errorf("transport: address %q: bad port: %w", addr, lerr)
		}
		port = uint64(p)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("transport: resolving %q: %w", host, err)
	}
	for _, ip := range ips {
		ip = ip.Unmap()
		if !t.ipv4Only || ip.Is4() {
			return netip.AddrPortFrom(ip, uint16(port)), nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("transport: %q has no address this socket can reach", host)
}

func newQUICTransport(conn net.PacketConn, resetKey *quic.StatelessResetKey) *quic.Transport {
	return &quic.Transport{Conn: conn, StatelessResetKey: resetKey}
}

// SetShortcut makes requests to the relayed address relayed use a live
// direct connection to the same key at direct, found by hole punching,
// while one exists; when it dies they go through the relay again. An
// empty direct removes the shortcut.
func (t *Transport) SetShortcut(relayed, direct string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if direct == "" {
		delete(t.shortcuts, relayed)
		return nil
	}
	ap, err := netip.ParseAddrPort(direct)
	if err != nil {
		return fmt.Errorf("transport: shortcut %q: %w", direct, err)
	}
	if t.shortcuts == nil {
		t.shortcuts = map[string]netip.AddrPort{}
	}
	t.shortcuts[relayed] = normalize(ap)
	return nil
}

// OnRelayedDial sets f to be told of every relayed connection this node
// dials (addr is the relayed address, key the node behind it), once the
// inner handshake verified key; nil removes it. node/relay uses it to try a
// direct path by hole punching while the relayed one carries the traffic.
// f runs on the dialling goroutine and must not block.
func (t *Transport) OnRelayedDial(f func(addr string, key ed25519.PublicKey)) {
	if f == nil {
		t.onRelayed.Store(nil)
		return
	}
	t.onRelayed.Store(&f)
}

// shortcut returns the live direct connection standing in for a relayed
// address, if any.
func (t *Transport) shortcut(addr string, key ed25519.PublicKey) *peerConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	ap, ok := t.shortcuts[addr]
	if !ok {
		return nil
	}
	k := poolKey{addr: ap}
	copy(k.key[:], key)
	if pc := t.pool[k]; pc != nil && pc.usable() {
		return pc
	}
	return nil
}
