package conduit

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"

	"github.com/borgios/borgios/conduit/netclient"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/shard"
)

// NetworkClient is the conduit's way into the network, behind the pages'
// NetworkStatus: Connect builds the endpoint pool (or the embedded node
// when no node answers) in the background, so the address is printed at
// once and the Network page says "connecting" meanwhile.
type NetworkClient struct {
	mu      sync.Mutex
	pool    *netclient.Pool
	err     error
	closed  bool
	started bool
	done    chan struct{}
}

// Connect creates the pool with cfg and keeps it until Close. It blocks
// for at most cfg.ProbeTimeout plus an embedded node's start; call it in
// its own goroutine.
func (n *NetworkClient) Connect(ctx context.Context, cfg netclient.Config) error {
	n.mu.Lock()
	if n.started || n.closed {
		n.mu.Unlock()
		return fmt.Errorf("conduit: network client already connecting or closed")
	}
	n.started = true
	n.done = make(chan struct{})
	n.mu.Unlock()
	p, err := netclient.New(ctx, cfg)
	n.mu.Lock()
	defer n.mu.Unlock()
	defer close(n.done)
	if err != nil {
		n.err = err
		return err
	}
	if n.closed {
		p.Close()
		return netclient.ErrClosed
	}
	n.pool = p
	return nil
}

// Pool returns the pool once connected, else nil.
func (n *NetworkClient) Pool() *netclient.Pool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pool
}

// Close waits for a Connect in progress and closes the pool and with it
// the embedded node.
func (n *NetworkClient) Close() error {
	n.mu.Lock()
	n.closed = true
	done := n.done
	n.mu.Unlock()
	if done != nil {
		<-done
	}
	if p := n.Pool(); p != nil {
		return p.Close()
	}
	return nil
}

// Status implements NetworkStatus from the pool's live endpoints.
func (n *NetworkClient) Status(ctx context.Context) NetView {
	n.mu.Lock()
	p, err, started := n.pool, n.err, n.started
	n.mu.Unlock()
	switch {
	case p != nil:
		return PoolView(p.Status())
	case err != nil:
		return NetView{Health: HealthOffline, Summary: "No node reachable: " + err.Error()}
	case started:
		return NetView{Health: HealthUnknown, Summary: "Connecting to the network…"}
	}
	return NetView(notConnected)
}

// PoolView turns a pool snapshot into the pages' view: healthy when the
// registry and enough shard holders (one copy per holder, k of them) are
// live, or when the embedded node is; degraded when some service has fewer
// nodes than that; offline when no endpoint is live.
func PoolView(st netclient.Status) NetView {
	v := NetView{Mode: st.Mode, NetworkID: st.Network}
	for _, e := range st.Endpoints {
		if !e.Down && len(e.Cells) > 0 {
			v.Peers++
		}
	}
	reg, shards := st.Live[registry.DNA.Name], st.Live[shard.DNA.Name]
	switch {
	case v.Peers == 0:
		v.Health = HealthOffline
		v.Summary = "No node reachable: check the internet connection."
		if st.RefreshError != "" {
			v.Summary += " (" + st.RefreshError + ")"
		}
	case st.Mode == netclient.ModeEmbedded:
		v.Health = HealthOK
		v.Summary = "No other node reachable: this computer runs its own node, so your data stays here until the network is back."
	case reg > 0 && shards >= shard.DefaultK:
		v.Health = HealthOK
		v.Summary = fmt.Sprintf("Connected to %d nodes.", v.Peers)
	default:
		v.Health = HealthDegraded
		v.Summary = fmt.Sprintf("Connected to %d nodes; %d store data (%d wanted).", v.Peers, shards, shard.DefaultK)
	}
	return v
}

// NetworkStorage returns storage for the unlocked person over p: requests
// signed with a copy of the account key, files under their file-key root.
// wipe clears the copies and must be called when the operation ends; a
// lock in between does not reach them, so keep operations short-lived.
func (s *Server) NetworkStorage(p *netclient.Pool) (st *netclient.Storage, wipe func(), err error) {
	var key ed25519.PrivateKey
	var root [32]byte
	err = s.vault.WithKeys(func(k *identity.Keys) error {
		key = append(ed25519.PrivateKey(nil), k.Account...)
		root = k.FileRoot
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	wipe = func() { clear(key); clear(root[:]) }
	st, err = netclient.NewStorage(netclient.StorageConfig{Pool: p, Key: key, FileRoot: &root})
	if err != nil {
		wipe()
		return nil, nil, err
	}
	return st, wipe, nil
}
