package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/identity"
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
	now := func() int64 { return time.Now().UnixMilli() }
	caller := &cell.Client{Transport: tr, Key: k.Account, Network: p.network, Now: now,
		Verifier: wire.NewVerifier(wire.Config{Network: p.network, Now: now})}
	return &personConn{keys: k, tr: tr, caller: caller, peers: targets, view: &peerView{call: caller, peers: targets}}, nil
}

func (c *personConn) close() {
	c.tr.Close()
	c.keys.Wipe()
}

// context is the command's context bounded by --timeout.
func (p *personFlags) context(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), p.timeout)
}
