package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/wire"
)

// maxUsage bounds the clients whose carried bytes are remembered. A client
// that stops renewing leaves the relay's client table but keeps its usage
// record, because the bytes were carried and may still be paid for; past
// this bound the smallest record of a client no longer registered goes.
const maxUsage = 4096

// usage is what a relay carried for one client since the process started.
type usage struct {
	key     ed25519.PublicKey
	since   time.Time
	bytes   atomic.Uint64 // both directions
	tunnels atomic.Uint64 // tunnels opened
	acked   atomic.Uint64 // the client's own count, from its latest receipt
	receipt []byte        // that receipt: the client's signed register envelope; guarded by Service.mu
}

// Usage is the bandwidth this relay gave one client: the figure a rewarder
// turns into a claim. The counts are cumulative since Since (this
// process's first tunnel or registration for the client); a payer keeps
// its own watermark.
//
// Acked is the client's own count of the same bytes from its latest
// registration renewal, and Receipt that renewal: a wire envelope signed
// by the client (kind "register", payload Carried), which anyone can check
// with a wire.Verifier. The client counts since its transport started, so
// after a restart of the client Acked starts again from zero. A payer
// should pay for min(Bytes, Acked) (see DESIGN.md, Relay earnings).
type Usage struct {
	Client  ed25519.PublicKey `json:"client"`
	Bytes   uint64            `json:"bytes"`
	Tunnels uint64            `json:"tunnels"`
	Acked   uint64            `json:"acked"`
	Since   time.Time         `json:"since"`
	Receipt []byte            `json:"-"`
}

// usageLocked returns the usage record of key, making one if needed.
// s.mu must be held.
func (s *Service) usageLocked(k [32]byte) *usage {
	if u := s.usage[k]; u != nil {
		return u
	}
	if len(s.usage) >= maxUsage {
		var drop *[32]byte
		var least uint64
		for kk, u := range s.usage {
			if _, registered := s.clients[kk]; registered {
				continue
			}
			if b := u.bytes.Load(); drop == nil || b < least {
				kk := kk
				drop, least = &kk, b
			}
		}
		if drop != nil {
			delete(s.usage, *drop)
		}
	}
	u := &usage{key: ed25519.PublicKey(bytes.Clone(k[:])), since: time.Now()}
	s.usage[k] = u
	return u
}

// Usage returns the bytes carried per client, largest first.
func (s *Service) Usage() []Usage {
	s.mu.Lock()
	out := make([]Usage, 0, len(s.usage))
	for _, u := range s.usage {
		out = append(out, Usage{Client: u.key, Bytes: u.bytes.Load(), Tunnels: u.tunnels.Load(), Acked: u.acked.Load(),
			Since: u.since, Receipt: u.receipt})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bytes != out[j].Bytes {
			return out[i].Bytes > out[j].Bytes
		}
		return bytes.Compare(out[i].Client, out[j].Client) < 0
	})
	return out
}

// autoPunch is told of every relayed connection we dial and tries a direct
// path to that peer in the background, once per PunchRetry per peer: the
// relayed connection carries the traffic meanwhile, and the direct one, if
// found, takes over through the transport's shortcut.
func (s *Service) autoPunch(addr string, key ed25519.PublicKey) {
	s.mu.Lock()
	if s.closed || s.observed == "" || time.Since(s.punchAt[addr]) < s.cfg.PunchRetry {
		s.mu.Unlock()
		return
	}
	if len(s.punchAt) >= maxUsage {
		for a, at := range s.punchAt {
			if time.Since(at) >= s.cfg.PunchRetry {
				delete(s.punchAt, a)
			}
		}
	}
	s.punchAt[addr] = time.Now()
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, 2*callTimeout+punchFor)
		defer cancel()
		if _, err := s.DirectPath(ctx, cell.Target{Key: key, Addr: addr}); err != nil && s.ctx.Err() == nil {
			s.log.Info("no direct path; staying relayed", "peer", addr, "err", err)
		}
	}()
}

// ErrBadReceipt means a relay receipt does not check out.
var ErrBadReceipt = errors.New("relay: bad receipt")

// Receipt is what a verified Usage.Receipt says: Client signed, at Time
// (Unix ms, its clock), that Relay had carried Carried bytes for it.
type Receipt struct {
	Client  ed25519.PublicKey
	Relay   ed25519.PublicKey
	Carried uint64
	Time    int64
}

// VerifyReceipt checks a receipt of network: a well-formed registration
// envelope with a valid signature, naming a relay and a count. It checks
// the signature as of the receipt's own time, so old receipts verify too;
// whether a receipt is recent enough to pay for is the payer's call.
func VerifyReceipt(network string, raw []byte) (Receipt, error) {
	env, err := wire.Decode(raw, 0)
	if err != nil {
		return Receipt{}, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	at := env.Time
	v := wire.NewVerifier(wire.Config{Network: network, Now: func() int64 { return at }})
	if env, err = v.Verify(raw); err != nil {
		return Receipt{}, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	var req registerReq
	if env.Kind != KindRegister {
		return Receipt{}, fmt.Errorf("%w: kind %q", ErrBadReceipt, env.Kind)
	}
	if err := wire.Unmarshal(env.Payload, &req); err != nil {
		return Receipt{}, fmt.Errorf("%w: %w", ErrBadReceipt, err)
	}
	if len(req.Relay) != ed25519.PublicKeySize || req.Carried == 0 {
		return Receipt{}, fmt.Errorf("%w: names no relay or no bytes", ErrBadReceipt)
	}
	return Receipt{Client: env.Sender, Relay: req.Relay, Carried: req.Carried, Time: env.Time}, nil
}
