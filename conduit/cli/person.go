package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

// personFlags are what every command acting as the person on running
// nodes takes (files, mail): which nodes, which keys, which network.
type personFlags struct {
	peers            []string
	keyfile, network string
	timeout          time.Duration
}

func (p *personFlags) register(pf *pflag.FlagSet, timeout time.Duration) {
	pf.StringArrayVar(&p.peers, "peer", nil, "node to talk to, as NODEKEY@HOST:PORT (repeatable; at least one)")
	pf.StringVar(&p.keyfile, "keyfile", "", "read the keys from this key file instead of a phrase")
	pf.StringVar(&p.network, "network", node.DefaultNetwork, "network ID")
	pf.DurationVar(&p.timeout, "timeout", timeout, "give up after this long")
}

// personConn is the person's way to the network for one command: their
// keys (wiped by close), a throwaway transport, a client signing with the
// account key, and the peers given.
type personConn struct {
	keys   *identity.Keys
	tr     *transport.Transport
	caller *cell.Client
	peers  []cell.Target
	view   *peerView
}

// connect reads the keys (phrase or key file, from the command's input)
// and starts the transport; what names the command in errors.
func (p *personFlags) connect(cmd *cobra.Command, what string) (*personConn, error) {
	if len(p.peers) == 0 {
		return nil, errors.New("--peer NODEKEY@HOST:PORT is required: a node to talk to")
	}
	var targets []cell.Target
	for _, s := range p.peers {
		c, err := node.ParseContact(s)
		if err != nil {
			return nil, err
		}
		targets = append(targets, cell.Target{Key: c.Key, Addr: c.Addr})
	}
	in := newSecretInput(cmd)
	var k *identity.Keys
	var err error
	if p.keyfile != "" {
		k, err = keysFromKeyFileInput(in, p.keyfile)
	} else {
		k, err = keysFromPhraseInput(in)
	}
	if err != nil {
		return nil, err
	}
	// A throwaway transport key: nodes learn the account from the signed
	// requests, not from the connection.
	_, trKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		k.Wipe()
		return nil, err
	}
	tr, err := transport.Listen(transport.Config{Key: trKey, ListenAddr: "0.0.0.0:0"})
	if err != nil {
		k.Wipe()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// Network time: this computer's clock plus what the peers say it is
	// off by (a stranger's laptop may be minutes or days wrong, and every
	// request carries a time the nodes check).
	var offset atomic.Int64
	now := func() int64 { return computerClock() + offset.Load() }
	caller := &cell.Client{Transport: tr, Key: k.Account, Network: p.network, Now: now,
		Verifier: wire.NewVerifier(wire.Config{Network: p.network, Now: now})}
	pc := &personConn{keys: k, tr: tr, caller: caller, peers: targets, view: &peerView{call: caller, peers: targets}}
	if off, ok := clockOffset(cmd.Context(), caller, targets); ok && (off > clockTolerance || off < -clockTolerance) {
		offset.Store(off)
		d, way := time.Duration(off)*time.Millisecond, "behind"
		if d < 0 {
			d, way = -d, "ahead of"
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "note: this computer's clock is %v %s the network's; using the network's time\n", d.Round(time.Second), way)
	}
	return pc, nil
}

// computerClock is this computer's clock in Unix ms (a test sets it wrong).
var computerClock = func() int64 { return time.Now().UnixMilli() }

// clockTolerance is the offset below which the computer's clock is used
// as it is (nodes accept requests within 30 s).
const clockTolerance = 1000

// clockOffset asks up to three of the peers for their signed time, which
// they give even when they refuse ours, and returns how far ahead of this
// computer the network is in ms: the shortest-round-trip sample of the
// largest group of peers within 2 s of each other, of at least two, or the
// one peer that answered when only one did (the person named it, and a
// lie only makes their requests fail).
func clockOffset(ctx context.Context, c *cell.Client, peers []cell.Target) (int64, bool) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	peers = peers[:min(len(peers), 3)]
	samples := make([]*cell.TimeSample, len(peers))
	var wg sync.WaitGroup
	for i, t := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s, err := c.NodeTime(ctx, t, registry.DNA); err == nil {
				samples[i] = &s
			}
		}()
	}
	wg.Wait()
	var got []cell.TimeSample
	for _, s := range samples {
		if s != nil {
			got = append(got, *s)
		}
	}
	if len(got) == 1 {
		return got[0].OffsetMs(), true
	}
	var best []cell.TimeSample
	for _, a := range got {
		var group []cell.TimeSample
		for _, b := range got {
			if d := a.OffsetMs() - b.OffsetMs(); d >= -2000 && d <= 2000 {
				group = append(group, b)
			}
		}
		if len(group) > len(best) {
			best = group
		}
	}
	if len(best) < 2 {
		return 0, false
	}
	pick := best[0]
	for _, s := range best[1:] {
		if s.RTT < pick.RTT {
			pick = s
		}
	}
	return pick.OffsetMs(), true
}

func (c *personConn) close() {
	c.tr.Close()
	c.keys.Wipe()
}

// context is the command's context bounded by --timeout.
func (p *personFlags) context(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), p.timeout)
}
