package conduit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/borgios/borgios/conduit/netclient"
	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/files"
	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/stream"
)

// ErrNotConnected: the Files and Wallet sections need a pool to the
// network, and the conduit has none (not connected yet, or its network
// status source is not a pool).
var ErrNotConnected = errors.New("conduit: not connected to a network")

// PoolSource is a NetworkStatus that also hands out its endpoint pool;
// NetworkClient is one. Files and Wallet exist only when Config.Network
// is a PoolSource with a pool.
type PoolSource interface {
	Pool() *netclient.Pool
}

func (s *Server) pool() *netclient.Pool {
	if ps, ok := s.cfg.Network.(PoolSource); ok {
		return ps.Pool()
	}
	return nil
}

// connected says whether the Files and Wallet sections can work.
func (s *Server) connected() bool { return s.pool() != nil }

// poolMembers is a cell's membership view from the pool's live endpoints:
// the same list placement of heads and shards is computed over.
type poolMembers struct {
	p    *netclient.Pool
	cell string
}

func (m poolMembers) Members(context.Context) ([]shard.Member, error) {
	ts := m.p.Endpoints(m.cell)
	if len(ts) == 0 {
		return nil, fmt.Errorf("%w: %s", netclient.ErrNoEndpoints, m.cell)
	}
	out := make([]shard.Member, len(ts))
	for i, t := range ts {
		out[i] = shard.Member{Key: t.Key, Addr: t.Addr}
	}
	return out, nil
}

// netSession is one request's way to the network as the unlocked person:
// clients that sign with a copy of the account key. The copies are wiped
// by close, so a lock never waits on a request, and a request never
// outlives its keys by more than its own duration.
type netSession struct {
	who     ed25519.PublicKey // the account
	gen     uint64            // Server.rcptGen when opened
	pool    *netclient.Pool
	call    *cell.Client
	key     ed25519.PrivateKey
	root    *[32]byte
	storage *netclient.Storage
	files   *files.Client
	// onShard, if set before a read starts, also hears of every shard a
	// holder sent (a download's progress).
	onShard func(shard.Delivery)
}

func (s *Server) openSession() (*netSession, error) {
	p := s.pool()
	if p == nil {
		return nil, ErrNotConnected
	}
	s.rcptMu.Lock()
	ns := &netSession{pool: p, root: new([32]byte), gen: s.rcptGen}
	s.rcptMu.Unlock()
	err := s.vault.WithKeys(func(k *identity.Keys) error {
		ns.key = append(ed25519.PrivateKey(nil), k.Account...)
		*ns.root = k.FileRoot
		return nil
	})
	if err != nil {
		return nil, err
	}
	ns.who = ns.key.Public().(ed25519.PublicKey)
	ns.call = p.Client(ns.key)
	ns.storage, err = netclient.NewStorage(netclient.StorageConfig{Pool: p, Key: ns.key, FileRoot: ns.root,
		OnDelivery: s.shardDelivered(ns)})
	if err != nil {
		ns.close()
		return nil, fmt.Errorf("conduit: storage: %w", err)
	}
	ns.files, err = files.NewClient(files.ClientConfig{Call: ns.call, Shards: ns.storage.Shard(), Members: poolMembers{p, files.DNA.Name}})
	if err != nil {
		ns.close()
		return nil, fmt.Errorf("conduit: file tree: %w", err)
	}
	return ns, nil
}

func (ns *netSession) close() {
	clear(ns.key)
	clear(ns.root[:])
}

// fetcher streams stored files for media previews; onDelivery is
// Server.streamDelivered (delivery receipts).
func (ns *netSession) fetcher(onDelivery func(stream.DeliveryEvent)) (*stream.Fetcher, error) {
	return stream.NewFetcher(stream.Config{Call: ns.call, FileRoot: ns.root, Members: poolMembers{ns.pool, shard.DNA.Name},
		OnDelivery: onDelivery})
}
