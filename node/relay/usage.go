package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"sort"
	"sync/atomic"
	"time"

	"github.com/borgios/borgios/node/cell"
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
}

// Usage is the bandwidth this relay gave one client: the figure a rewarder
// turns into a claim. The counts are cumulative since Since (this
// process's first tunnel or registration for the client); a payer keeps
// its own watermark.
type Usage struct {
	Client  ed25519.PublicKey `json:"client"`
	Bytes   uint64            `json:"bytes"`
	Tunnels uint64            `json:"tunnels"`
	Since   time.Time         `json:"since"`
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
		out = append(out, Usage{Client: u.key, Bytes: u.bytes.Load(), Tunnels: u.tunnels.Load(), Since: u.since})
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
