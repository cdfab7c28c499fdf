package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/transport"
)

// punchFor is how long each side keeps punching after a punch request.
const punchFor = 8 * time.Second

// DirectPath tries to replace the relayed path to peer (whose Addr is a
// relayed address) with a direct one: both sides learn each other's
// observed address over the relayed connection, both send packets at it
// from their node socket (opening their NATs towards each other), and we
// dial the peer's observed address. On success the transport uses the
// direct connection for peer.Addr while it lives (SetShortcut) and the
// direct address is returned; otherwise ErrNoDirectPath and the relay stays
// in use.
func (s *Service) DirectPath(ctx context.Context, peer cell.Target) (string, error) {
	direct, err := s.directPath(ctx, peer)
	if err != nil {
		s.punchFailed.Add(1)
	} else {
		s.punchDirect.Add(1)
	}
	return direct, err
}

func (s *Service) directPath(ctx context.Context, peer cell.Target) (string, error) {
	mine := s.Observed()
	if mine == "" {
		return "", fmt.Errorf("%w: our own address is unknown (run Detect first)", ErrNoDirectPath)
	}
	var theirs addrMsg
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	err := s.call(cctx, peer, KindPunch, addrMsg{Addr: mine, From: s.tr.Addr().String(), Alt: s.preservedPort(mine)}, &theirs)
	cancel()
	if err != nil {
		return "", fmt.Errorf("%w: coordinating through the relay: %w", ErrNoDirectPath, err)
	}
	if theirs.Addr == "" {
		return "", fmt.Errorf("%w: peer does not know its address", ErrNoDirectPath)
	}
	pctx, stop := context.WithTimeout(ctx, punchFor)
	defer stop()
	// Two candidates: the address peers observed, and the same IP with the
	// peer's own port, which a NAT that preserves ports when it can uses
	// for a new destination even when it had to pick another port for the
	// flows peers observed.
	cands := []string{theirs.Addr}
	if theirs.Alt != "" && theirs.Alt != theirs.Addr {
		cands = append(cands, theirs.Alt)
	}
	found := make(chan string, len(cands))
	var errs []error
	var emu sync.Mutex
	for _, cand := range cands {
		go s.punchLoop(pctx, cand)
		go func() {
			var obs addrMsg
			if err := s.call(pctx, cell.Target{Key: peer.Key, Addr: cand}, KindObserve, struct{}{}, &obs); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
				found <- ""
				return
			}
			found <- cand
		}()
	}
	direct := ""
	for range cands {
		if d := <-found; d != "" {
			direct = d
			break
		}
	}
	if direct == "" {
		emu.Lock()
		defer emu.Unlock()
		return "", fmt.Errorf("%w: dialling %v: %w", ErrNoDirectPath, cands, errors.Join(errs...))
	}
	theirs.Addr = direct
	if err := s.tr.SetShortcut(peer.Addr, theirs.Addr); err != nil {
		return "", err
	}
	s.mu.Lock()
	s.direct[peer.Addr] = theirs.Addr
	s.mu.Unlock()
	s.log.Info("direct path", "peer", peer.Addr, "direct", theirs.Addr)
	return theirs.Addr, nil
}

// answerPunch starts punching towards the requester and tells it our
// observed address.
func (s *Service) answerPunch(peer transport.Peer, m addrMsg) addrMsg {
	if m.Addr != "" {
		for _, a := range []string{m.Addr, m.Alt} {
			if a == "" {
				continue
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				ctx, cancel := context.WithTimeout(s.ctx, punchFor)
				defer cancel()
				s.punchLoop(ctx, a)
			}()
		}
		if _, _, relayed, err := transport.ParseRelayAddr(m.From); relayed && err == nil {
			// If the requester gets through, its connection lands in our
			// pool under m.Addr: use it for its relayed address too.
			_ = s.tr.SetShortcut(m.From, m.Addr)
		}
	}
	return addrMsg{Addr: s.Observed(), Alt: s.preservedPort(s.Observed())}
}

// preservedPort is observed's IP with our own socket's port: where a
// port-preserving NAT maps a flow to a new destination.
func (s *Service) preservedPort(observed string) string {
	ap, err := netip.ParseAddrPort(observed)
	ua, ok := s.tr.LocalAddr().(*net.UDPAddr)
	if err != nil || !ok || int(ap.Port()) == ua.Port {
		return ""
	}
	return netip.AddrPortFrom(ap.Addr(), uint16(ua.Port)).String()
}

func (s *Service) punchLoop(ctx context.Context, addr string) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if err := s.tr.Punch(addr, 1); err != nil {
			s.log.Debug("punch failed", "addr", addr, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
