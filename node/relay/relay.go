package relay

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

// Proto is the transport protocol of NAT detection, relay registration and
// hole-punch coordination; every request and answer is a signed envelope.
const Proto = "nat/1"

// Envelope kinds.
const (
	KindObserve  = "observe"  // what address do you see me at?
	KindDialBack = "dialback" // please dial me at this address from a fresh socket
	KindRegister = "register" // relay me (a NATed node) through you
	KindPunch    = "punch"    // I am punching towards you; punch towards me
)

// Defaults for zero Config fields.
const (
	DefaultMaxClients          = 64
	DefaultMaxTunnelsPerClient = 64
	DefaultBytesPerSecond      = 8 << 20
	DefaultRegisterInterval    = 10 * time.Second
	DefaultDiscoveryPort       = 7448
	DefaultPunchRetry          = 5 * time.Minute
	callTimeout                = 10 * time.Second
)

// Errors callers tell apart.
var (
	// ErrNoPeers means reachability could not be tested: no peer answered.
	ErrNoPeers = errors.New("relay: no peer answered")
	// ErrNotRelay means the node asked to relay is not reachable itself or
	// does not offer relaying.
	ErrNotRelay = errors.New("relay: node does not relay")
	// ErrLimit means a relay limit was reached.
	ErrLimit = errors.New("relay: limit reached")
	// ErrNoDirectPath means hole punching found no direct path.
	ErrNoDirectPath = errors.New("relay: no direct path")
)

// Config configures a node's NAT service.
type Config struct {
	// Transport, Key, Network, Verifier and Now are the node's (Key signs
	// the nat/1 envelopes; it must be the transport's key).
	Transport *transport.Transport
	Key       ed25519.PrivateKey
	Network   string
	Verifier  *wire.Verifier
	Now       func() int64
	Logger    *slog.Logger
	// Serve offers relaying to others once this node is found reachable.
	Serve bool
	// MaxClients bounds the NATed nodes registered here at once.
	MaxClients int
	// MaxTunnelsPerClient bounds concurrent relayed connections to one client.
	MaxTunnelsPerClient int
	// BytesPerSecond bounds the bytes relayed for one client, both
	// directions together.
	BytesPerSecond int64
	// RegisterInterval is how often a NATed node renews its registration.
	RegisterInterval time.Duration
	// DiscoveryPort is the UDP port of LAN discovery (0: DefaultDiscoveryPort,
	// negative: off).
	DiscoveryPort int
	// NoAutoPunch turns off trying a direct path by hole punching after
	// each relayed connection this node dials (DirectPath, at most once per
	// peer per PunchRetry).
	NoAutoPunch bool
	// PunchRetry is how long after a punch attempt to a peer the next
	// relayed dial to it may try again (0: DefaultPunchRetry).
	PunchRetry time.Duration
	// Registerer receives the NAT and relay metrics (reachability, bytes
	// carried per client, punch results); nil disables them.
	Registerer prometheus.Registerer
}

// Result is what reachability detection found.
type Result struct {
	Reach    registry.Reachability
	Observed string // the address peers see us at (most common answer)
	// DialedBack is true when a peer reached us at Observed unsolicited.
	DialedBack bool
}

// Service is one node's NAT detection, relay client and relay server.
type Service struct {
	cfg    Config
	log    *slog.Logger
	tr     *transport.Transport
	pub    ed25519.PublicKey
	client *cell.Client

	mu       sync.Mutex
	reach    registry.Reachability
	observed string // our public address as peers see it
	relayed  string // our relayed address while registered with a relay
	relayTo  cell.Target
	clients  map[[32]byte]*client
	usage    map[[32]byte]*usage  // bytes carried per client, kept past registrations (usage.go)
	direct   map[string]string    // peer relayed addr -> direct addr (hole punched)
	punchAt  map[string]time.Time // peer relayed addr -> last automatic punch attempt
	closed   bool

	// tamper, if set (tests), sees every chunk the relay forwards.
	tamper func(fromDialer bool, b []byte) [][]byte // guarded by mu for writes; tests set it before traffic or under mu

	relayedBytes atomic.Uint64
	refused      atomic.Uint64
	punchDirect  atomic.Uint64
	punchFailed  atomic.Uint64

	disc     net.PacketConn
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// New builds the service and registers its handlers on the transport.
func New(cfg Config) (*Service, error) {
	if cfg.Transport == nil || len(cfg.Key) != ed25519.PrivateKeySize || cfg.Verifier == nil || cfg.Now == nil || cfg.Network == "" {
		return nil, errors.New("relay: Config needs Transport, Key, Network, Verifier and Now")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.MaxTunnelsPerClient <= 0 {
		cfg.MaxTunnelsPerClient = DefaultMaxTunnelsPerClient
	}
	if cfg.BytesPerSecond <= 0 {
		cfg.BytesPerSecond = DefaultBytesPerSecond
	}
	if cfg.RegisterInterval <= 0 {
		cfg.RegisterInterval = DefaultRegisterInterval
	}
	if cfg.DiscoveryPort == 0 {
		cfg.DiscoveryPort = DefaultDiscoveryPort
	}
	if cfg.PunchRetry <= 0 {
		cfg.PunchRetry = DefaultPunchRetry
	}
	s := &Service{
		cfg: cfg, log: cfg.Logger.With("component", "relay"), tr: cfg.Transport,
		pub:     cfg.Key.Public().(ed25519.PublicKey),
		client:  &cell.Client{Transport: cfg.Transport, Key: cfg.Key, Network: cfg.Network, Verifier: cfg.Verifier, Now: cfg.Now},
		clients: map[[32]byte]*client{},
		usage:   map[[32]byte]*usage{},
		direct:  map[string]string{},
		punchAt: map[string]time.Time{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.Registerer != nil {
		if err := s.registerMetrics(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("relay: metrics: %w", err)
		}
	}
	cfg.Transport.Handle(Proto, s.handle)
	cfg.Transport.HandleStream(transport.ProtoRelay, s.serveRelay)
	if !cfg.NoAutoPunch {
		cfg.Transport.OnRelayedDial(s.autoPunch)
	}
	return s, nil
}

// Close stops the background loops and the discovery responder. The
// handlers stay registered on the transport until it closes.
func (s *Service) Close() {
	s.stopOnce.Do(func() {
		s.tr.OnRelayedDial(nil)
		s.mu.Lock()
		s.closed = true
		s.cancel()
		if s.disc != nil {
			s.disc.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// Reach is the reachability found so far (ReachUnknown before Detect).
func (s *Service) Reach() registry.Reachability {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reach
}

// Addrs are the addresses to publish in the registry: the relayed address
// while behind NAT and registered, else the transport's advertised one.
func (s *Service) Addrs() []string {
	return []string{s.tr.Addr().String()}
}

// Observed is our address as peers see it ("" before Detect).
func (s *Service) Observed() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.observed
}

// Status is the service's state, for the monitor.
type Status struct {
	Reach    string `json:"reach"`
	Observed string `json:"observed,omitempty"`
	Relayed  string `json:"relayed,omitempty"`
	// Clients are the NATed nodes registered here now: full key (hex) ->
	// bytes carried for them since this process started.
	Clients map[string]uint64 `json:"relay_clients,omitempty"`
	// Usage is every client this relay carried bytes for, registered now
	// or not: what the ledger's rewarder would pay the relay for.
	Usage        []Usage `json:"relay_usage,omitempty"`
	RelayedBytes uint64  `json:"relayed_bytes"`
	Refused      uint64  `json:"relay_refused"`
	// Direct maps a peer's relayed address to the direct address hole
	// punching found for it; PunchDirect and PunchFailed count attempts.
	Direct      map[string]string `json:"direct,omitempty"`
	PunchDirect uint64            `json:"punch_direct"`
	PunchFailed uint64            `json:"punch_failed"`
}

// Status returns a snapshot.
func (s *Service) Status() Status {
	use := s.Usage()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Reach: reachName(s.reach), Observed: s.observed, Relayed: s.relayed, Usage: use,
		RelayedBytes: s.relayedBytes.Load(), Refused: s.refused.Load(), Clients: map[string]uint64{}, Direct: map[string]string{},
		PunchDirect: s.punchDirect.Load(), PunchFailed: s.punchFailed.Load()}
	for k, c := range s.clients {
		st.Clients[hex.EncodeToString(k[:])] = c.use.bytes.Load()
	}
	for k, v := range s.direct {
		st.Direct[k] = v
	}
	return st
}

func reachName(r registry.Reachability) string {
	switch r {
	case registry.ReachPublic:
		return "public"
	case registry.ReachNAT:
		return "nat"
	}
	return "unknown"
}

// --- messages ---------------------------------------------------------

type addrMsg struct {
	Addr string `cbor:"1,keyasint"`
	From string `cbor:"2,keyasint,omitempty"` // punch: the sender's relayed address
	Alt  string `cbor:"3,keyasint,omitempty"` // punch: observed IP with the sender's own port
}

type dialBackAns struct {
	OK  bool   `cbor:"1,keyasint"`
	Err string `cbor:"2,keyasint,omitempty"`
}

// registerReq is a relay client's registration, and its receipt: Carried
// is what the relay carried for it so far (transport.TunnelBytes), signed
// with the envelope, so the relay holds the client's own word for the
// bandwidth it may be paid for.
type registerReq struct {
	Carried uint64 `cbor:"1,keyasint,omitempty"`
	Relay   []byte `cbor:"2,keyasint,omitempty"` // the relay the receipt is for
}

type registerAns struct {
	Relayed  string `cbor:"1,keyasint"`
	Observed string `cbor:"2,keyasint"`
}

// call sends a signed nat/1 request and decodes the verified answer.
func (s *Service) call(ctx context.Context, to cell.Target, kind string, req, ans any) error {
	payload, err := wire.Marshal(req)
	if err != nil {
		return err
	}
	env, err := wire.SealEnvelope(s.cfg.Key, wire.Header{Network: s.cfg.Network, Kind: kind, Time: s.cfg.Now()}, payload)
	if err != nil {
		return err
	}
	raw, err := s.tr.Request(ctx, to.Addr, to.Key, Proto, env.Bytes())
	if err != nil {
		return err
	}
	a, err := s.cfg.Verifier.Verify(raw)
	if err != nil {
		return fmt.Errorf("relay: answer from %s: %w", to.Addr, err)
	}
	if !a.Sender.Equal(to.Key) {
		return fmt.Errorf("relay: answer from %s signed by another key", to.Addr)
	}
	if err := a.Answers(env); err != nil {
		return fmt.Errorf("relay: answer from %s: %w", to.Addr, err)
	}
	if err := wire.Unmarshal(a.Payload, ans); err != nil {
		return fmt.Errorf("relay: answer from %s: %w", to.Addr, err)
	}
	return nil
}

// handle serves nat/1 requests.
func (s *Service) handle(ctx context.Context, peer transport.Peer, raw []byte) ([]byte, error) {
	env, err := s.cfg.Verifier.Verify(raw)
	if err != nil {
		return nil, fmt.Errorf("refused: %w", err)
	}
	if !env.Sender.Equal(peer.Key) {
		return nil, errors.New("refused: envelope sender is not the connection's key")
	}
	var ans any
	switch env.Kind {
	case KindObserve:
		ans = addrMsg{Addr: peer.Addr.String()}
	case KindDialBack:
		var m addrMsg
		if err := wire.Unmarshal(env.Payload, &m); err != nil {
			return nil, fmt.Errorf("refused: %w", err)
		}
		ans = s.dialBack(ctx, peer, m.Addr)
	case KindRegister:
		var req registerReq
		if err := wire.Unmarshal(env.Payload, &req); err != nil {
			return nil, fmt.Errorf("refused: %w", err)
		}
		a, err := s.register(peer, req, raw)
		if err != nil {
			s.refused.Add(1)
			return nil, err
		}
		ans = a
	case KindPunch:
		var m addrMsg
		if err := wire.Unmarshal(env.Payload, &m); err != nil {
			return nil, fmt.Errorf("refused: %w", err)
		}
		ans = s.answerPunch(peer, m)
	default:
		return nil, fmt.Errorf("refused: unknown kind %q", env.Kind)
	}
	payload, err := wire.Marshal(ans)
	if err != nil {
		return nil, err
	}
	return wire.Reply(s.cfg.Key, env, env.Kind+"-ok", payload, s.cfg.Now())
}

// dialBack probes addr for peer. Only the peer's own IP is probed, so a
// node cannot be used to send handshakes at third parties.
func (s *Service) dialBack(ctx context.Context, peer transport.Peer, addr string) dialBackAns {
	want, err := netip.ParseAddrPort(addr)
	if err != nil {
		return dialBackAns{Err: "bad address"}
	}
	ua, ok := peer.Addr.(*net.UDPAddr)
	if !ok {
		return dialBackAns{Err: "not a direct connection"}
	}
	if got := ua.AddrPort().Addr().Unmap(); got != want.Addr().Unmap() {
		return dialBackAns{Err: fmt.Sprintf("will only dial back %s", got)}
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.tr.Probe(pctx, addr, peer.Key); err != nil {
		return dialBackAns{Err: err.Error()}
	}
	return dialBackAns{OK: true}
}

// Detect asks peers what address they see us at and to dial us back there,
// sets Reach, and advertises the observed address when a dial-back
// succeeded. It tries up to four peers and stops at the first dial-back
// that works. ErrNoPeers if none answered at all.
func (s *Service) Detect(ctx context.Context, peers []cell.Target) (Result, error) {
	votes := map[string]int{}
	var res Result
	asked := 0
	for _, p := range peers {
		if asked == 4 || res.DialedBack {
			break
		}
		if _, _, relayed, _ := transport.ParseRelayAddr(p.Addr); relayed || p.Key.Equal(s.pub) {
			continue // a relayed peer sees us at its relay, which says nothing
		}
		asked++
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		var obs addrMsg
		err := s.call(cctx, p, KindObserve, struct{}{}, &obs)
		cancel()
		if err != nil {
			s.log.Debug("observe failed", "peer", p.Addr, "err", err)
			continue
		}
		votes[obs.Addr]++
		cctx, cancel = context.WithTimeout(ctx, callTimeout)
		var db dialBackAns
		err = s.call(cctx, p, KindDialBack, addrMsg{Addr: obs.Addr}, &db)
		cancel()
		if err == nil && db.OK {
			res.DialedBack, res.Observed = true, obs.Addr
		} else if err == nil {
			s.log.Debug("dial-back failed", "peer", p.Addr, "addr", obs.Addr, "err", db.Err)
		}
	}
	if len(votes) == 0 {
		return res, ErrNoPeers
	}
	if !res.DialedBack {
		best := 0
		for a, n := range votes {
			if n > best || n == best && a < res.Observed {
				res.Observed, best = a, n
			}
		}
	}
	res.Reach = registry.ReachNAT
	if res.DialedBack {
		res.Reach = registry.ReachPublic
	}
	s.mu.Lock()
	s.reach, s.observed = res.Reach, res.Observed
	s.mu.Unlock()
	if res.DialedBack {
		s.tr.SetAdvertised(res.Observed)
		if s.cfg.Serve {
			s.startDiscoveryResponder()
		}
	}
	s.log.Info("reachability", "reach", reachName(res.Reach), "observed", res.Observed)
	return res, nil
}

// sortTargets orders candidates deterministically (tests, logs).
func sortTargets(ts []cell.Target) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Addr < ts[j].Addr })
}
