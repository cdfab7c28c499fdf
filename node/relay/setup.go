package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/registry"
)

// Setup is what a node runs at start: Detect against peers and, if it turns
// out to be behind NAT, register with a relay, trying the relays found on
// the LAN first (they are one hop away and need no second NAT crossing)
// and then candidates (e.g. registry members whose entries say
// ReachPublic). It returns the detection result and, behind NAT, the
// relayed address now advertised.
func (s *Service) Setup(ctx context.Context, peers, candidates []cell.Target) (Result, string, error) {
	res, err := s.Detect(ctx, peers)
	if err != nil && !errors.Is(err, ErrNoPeers) {
		return res, "", err
	}
	if res.Reach == registry.ReachPublic {
		return res, "", nil
	}
	lan, derr := s.Discover(ctx, 2*time.Second)
	if derr != nil {
		s.log.Debug("LAN discovery failed", "err", derr)
	}
	var errs []error
	for _, r := range append(lan, candidates...) {
		if r.Key.Equal(s.pub) {
			continue
		}
		addr, err := s.UseRelay(ctx, r)
		if err == nil {
			if res.Reach == registry.ReachUnknown {
				res.Reach = registry.ReachNAT
			}
			return res, addr, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 && errors.Is(err, ErrNoPeers) {
		// Nobody to ask and nobody to relay through: the first node of a
		// network, or all peers away. Not evidence of a NAT.
		return res, "", err
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no relay found on the LAN or among candidates"))
	}
	return res, "", fmt.Errorf("relay: behind NAT and no relay: %w", errors.Join(errs...))
}
