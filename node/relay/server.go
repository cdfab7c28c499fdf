package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/transport"
)

// client is a NATed node registered with this relay.
type client struct {
	key     ed25519.PublicKey
	addr    string // its connection to us, where tunnels are opened
	seen    time.Time
	tunnels atomic.Int64
	use     *usage // bytes relayed for it, both directions: what it may be billed
	lim     *limiter
}

// register accepts peer as a relay client.
func (s *Service) register(peer transport.Peer, req registerReq, raw []byte) (registerAns, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.cfg.Serve || s.reach != registry.ReachPublic {
		return registerAns{}, fmt.Errorf("%w: not offering relaying (reach %s)", ErrNotRelay, reachName(s.reach))
	}
	relayed, err := transport.RelayAddr(s.pub, s.tr.Addr().String())
	if err != nil {
		return registerAns{}, fmt.Errorf("%w: %v", ErrNotRelay, err)
	}
	k := [32]byte(peer.Key)
	c := s.clients[k]
	if c == nil {
		s.expireLocked()
		if len(s.clients) >= s.cfg.MaxClients {
			return registerAns{}, fmt.Errorf("%w: %d clients", ErrLimit, len(s.clients))
		}
		c = &client{key: peer.Key, lim: newLimiter(s.cfg.BytesPerSecond), use: s.usageLocked(k)}
		s.clients[k] = c
		s.log.Info("relay client registered", "client", fmt.Sprintf("%x", k[:6]), "addr", peer.Addr.String())
	}
	c.addr, c.seen = peer.Addr.String(), time.Now()
	if req.Carried > 0 && bytes.Equal(req.Relay, s.pub) {
		c.use.acked.Store(req.Carried)
		c.use.receipt = bytes.Clone(raw)
	}
	return registerAns{Relayed: relayed, Observed: peer.Addr.String()}, nil
}

// expireLocked drops clients that stopped renewing (3 intervals).
func (s *Service) expireLocked() {
	for k, c := range s.clients {
		if time.Since(c.seen) > 3*s.cfg.RegisterInterval && c.tunnels.Load() == 0 {
			delete(s.clients, k)
		}
	}
}

func (s *Service) lookupClient(key []byte) *client {
	if len(key) != ed25519.PublicKeySize {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients[[32]byte(key)]
}

// serveRelay connects a dialler's stream to a registered client.
func (s *Service) serveRelay(ctx context.Context, peer transport.Peer, st *transport.Stream) {
	refuse := func(msg string) {
		s.refused.Add(1)
		_ = st.WriteFrame(append([]byte{1}, msg...))
		_ = st.CloseWrite()
	}
	_ = st.SetReadDeadline(time.Now().Add(callTimeout))
	target, err := st.ReadFrame()
	if err != nil {
		return
	}
	_ = st.SetReadDeadline(time.Time{})
	c := s.lookupClient(target)
	if c == nil {
		refuse("node is not registered with this relay")
		return
	}
	if c.tunnels.Add(1) > int64(s.cfg.MaxTunnelsPerClient) {
		c.tunnels.Add(-1)
		refuse(fmt.Sprintf("%v: %d tunnels to this node", ErrLimit, s.cfg.MaxTunnelsPerClient))
		return
	}
	defer c.tunnels.Add(-1)
	c.use.tunnels.Add(1)
	octx, cancel := context.WithTimeout(ctx, callTimeout)
	out, err := s.tr.OpenStream(ctx, c.addr, c.key, transport.ProtoTunnel)
	cancel()
	_ = octx
	if err != nil {
		refuse("node unreachable from relay: " + err.Error())
		return
	}
	defer out.Close()
	if err := out.WriteFrame(peer.Key); err != nil {
		refuse("node unreachable from relay: " + err.Error())
		return
	}
	if err := st.WriteFrame([]byte{0}); err != nil {
		out.Reset()
		return
	}
	s.splice(st, out, c)
}

// splice copies both ways until either side ends, then resets both.
func (s *Service) splice(dialer, node *transport.Stream, c *client) {
	var wg sync.WaitGroup
	var once sync.Once
	stop := func() {
		once.Do(func() {
			dialer.Reset()
			node.Reset()
		})
	}
	pump := func(dst, src *transport.Stream, fromDialer bool) {
		defer wg.Done()
		defer stop()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				c.lim.wait(n)
				c.use.bytes.Add(uint64(n))
				s.relayedBytes.Add(uint64(n))
				chunks := [][]byte{buf[:n]}
				s.mu.Lock()
				tamper := s.tamper
				s.mu.Unlock()
				if tamper != nil {
					chunks = tamper(fromDialer, buf[:n])
				}
				for _, ch := range chunks {
					if _, werr := dst.Write(ch); werr != nil {
						return
					}
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					_ = dst.CloseWrite()
				}
				return
			}
		}
	}
	wg.Add(2)
	go pump(node, dialer, true)
	go pump(dialer, node, false)
	wg.Wait()
}

// limiter is a token bucket of bytes per second with one second of burst.
type limiter struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

func newLimiter(perSecond int64) *limiter {
	return &limiter{rate: float64(perSecond), tokens: float64(perSecond), last: time.Now()}
}

// wait blocks until n bytes may pass.
func (l *limiter) wait(n int) {
	l.mu.Lock()
	now := time.Now()
	l.tokens = min(l.rate, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n)
	var d time.Duration
	if l.tokens < 0 {
		d = time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	l.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
}

// UseRelay registers this node with relay and advertises the relayed
// address it hands out; the registration is renewed every
// RegisterInterval (over the connection we keep to the relay, whose
// keepalives also hold our NAT mapping open) until Close. It returns the
// relayed address.
func (s *Service) UseRelay(ctx context.Context, relay cell.Target) (string, error) {
	ans, err := s.registerWith(ctx, relay)
	if err != nil {
		return "", err
	}
	s.wg.Add(1)
	go s.keepRelay(relay)
	return ans.Relayed, nil
}

func (s *Service) registerWith(ctx context.Context, relay cell.Target) (registerAns, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var ans registerAns
	if err := s.call(cctx, relay, KindRegister, registerReq{Carried: s.tr.TunnelBytes(relay.Key), Relay: relay.Key}, &ans); err != nil {
		return ans, fmt.Errorf("relay: register with %s: %w", relay.Addr, err)
	}
	if _, _, ok, err := transport.ParseRelayAddr(ans.Relayed); !ok || err != nil {
		return ans, fmt.Errorf("relay: %s handed out a bad relayed address %q", relay.Addr, ans.Relayed)
	}
	s.mu.Lock()
	s.relayed, s.relayTo = ans.Relayed, relay
	if s.reach == registry.ReachUnknown {
		s.reach = registry.ReachNAT
	}
	if s.observed == "" {
		s.observed = ans.Observed
	}
	s.mu.Unlock()
	s.tr.SetAdvertised(ans.Relayed)
	s.log.Info("relayed", "relay", relay.Addr, "addr", ans.Relayed)
	return ans, nil
}

func (s *Service) keepRelay(relay cell.Target) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.RegisterInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.registerWith(s.ctx, relay); err != nil && s.ctx.Err() == nil {
			s.log.Warn("relay registration failed; retrying", "relay", relay.Addr, "err", err)
		}
	}
}
