package node

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/borgios/borgios/node/cell"
	"github.com/borgios/borgios/node/crono"
	"github.com/borgios/borgios/node/files"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/ledgercell"
	"github.com/borgios/borgios/node/mail"
	"github.com/borgios/borgios/node/monitor"
	"github.com/borgios/borgios/node/netclock"
	"github.com/borgios/borgios/node/registry"
	"github.com/borgios/borgios/node/relay"
	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/store"
	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
)

// DefaultNetwork is the network ID used when none is configured.
const DefaultNetwork = "borgios-dev"

// Default ports: one UDP port for all node-to-node traffic (the one a home
// router forwards) and a TCP port on loopback for the monitor.
const (
	DefaultListen        = "0.0.0.0:7446"
	DefaultMonitorListen = "127.0.0.1:7447"
)

// Config configures a node.
type Config struct {
	// DataDir holds the node's database (and with it its key).
	DataDir string
	// Listen is the UDP address for QUIC ("127.0.0.1:0" picks a port).
	Listen string
	// MonitorListen is the TCP address of /status and /metrics; empty
	// disables the monitor.
	MonitorListen string
	// Network is the network ID every envelope carries.
	Network string
	// Peers are contacts to connect to at start.
	Peers []Contact
	// PeerInterval is how often peers are greeted again (default 5 s).
	PeerInterval time.Duration
	// Cells names the cell types to run; nil runs all of them.
	Cells []string
	// Genesis is the ledger's genesis (in-process networks: demo, tests);
	// GenesisPath loads one from a file. All nodes of a network must share
	// it. Neither: a dev genesis with this node as its only witness.
	Genesis     *ledger.Genesis
	GenesisPath string
	// TreeHeartbeat is the cell trees' heartbeat (default 1 s).
	TreeHeartbeat time.Duration
	// Now is network time in Unix ms; nil means the crono service's network
	// time (which starts as the local clock and follows the tree's root once
	// synced).
	Now func() int64
	// LocalClock is the monotonic clock network time is built on; nil is the
	// system clock. Tests inject skewed clocks here.
	LocalClock crono.LocalClock
	// ClockEpoch is Unix ns at LocalClock 0; 0 derives it.
	ClockEpoch int64
	// ShardMaxReads bounds concurrent shard reads this node serves; at the
	// limit a reader is sent to another holder ("busy"). 0: no limit.
	ShardMaxReads int
	// NAT turns on reachability detection at start (ask the peers which
	// address they see, have one dial back) and, when this node is found
	// behind a NAT, relaying through a reachable node (found on the LAN or
	// among the peers). `borgios node` turns it on; in-process networks on
	// 127.0.0.1 (tests, demo) leave it off because every node is reachable.
	NAT bool
	// Relay offers relaying to NATed nodes once this node is found
	// reachable (only with NAT). RelayLimits bounds what it carries (zero
	// fields: the relay package's defaults).
	Relay       bool
	RelayLimits relay.Config
	Logger      *slog.Logger
}

// Node is a running BorgIOS node.
type Node struct {
	cfg      Config
	log      *slog.Logger
	db       *store.DB
	key      ed25519.PrivateKey
	tr       *transport.Transport
	verifier *wire.Verifier
	clock    *netclock.Service
	mon      *monitor.Monitor
	monSrv   *monitor.Server
	started  time.Time

	cells       []*cell.Runtime
	cellRefs    []registry.CellRef
	cellMetrics *cell.Metrics
	registry    *registry.Registry
	ledger      *ledgercell.Cell
	shard       *shard.Cell
	files       *files.Cell
	mail        *mail.Cell
	nat         *relay.Service
	rewarder    *ledgercell.Rewarder

	mu    sync.Mutex
	peers map[string]*peerState // by hex key

	metrics struct {
		hellos *prometheus.CounterVec
		peers  prometheus.GaugeFunc
	}

	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

type peerState struct {
	Key       string    `json:"key"`
	Addr      string    `json:"addr"`
	State     string    `json:"state"` // connected, unreachable, wrong-key, refused
	RTTMillis float64   `json:"rtt_ms,omitempty"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	Error     string    `json:"error,omitempty"`
	Inbound   bool      `json:"inbound,omitempty"`
}

// Start opens the data directory, binds the transport, starts the monitor
// and greets the configured peers. The node runs until Close.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("node: a data directory is required (--data-dir)")
	}
	if cfg.Network == "" {
		cfg.Network = DefaultNetwork
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.PeerInterval <= 0 {
		cfg.PeerInterval = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Cells == nil {
		cfg.Cells = CellNames()
	}
	db, err := store.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	key, err := db.NodeKey()
	if err != nil {
		db.Close()
		return nil, err
	}
	n := &Node{
		cfg:     cfg,
		db:      db,
		key:     key,
		mon:     monitor.New(),
		started: time.Now(),
		peers:   map[string]*peerState{},
		log:     cfg.Logger.With("node", hex.EncodeToString(key.Public().(ed25519.PublicKey)[:6])),
	}
	n.clock, err = netclock.New(netclock.Config{Local: cfg.LocalClock, Epoch: cfg.ClockEpoch, Registerer: n.mon.Registry(), Logger: n.log})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	if n.cfg.Now == nil {
		n.cfg.Now = n.clock.Now
	}
	n.verifier = wire.NewVerifier(wire.Config{Network: cfg.Network, Now: n.cfg.Now})
	n.tr, err = transport.Listen(transport.Config{Key: key, ListenAddr: cfg.Listen, Logger: n.log})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	n.tr.Handle(protoNode, n.handleNode)
	n.registerMetrics()
	if cfg.NAT {
		// Before the cells: they take their tree address from the
		// transport's advertised address, which Setup sets (a relayed
		// address when this node turns out to be behind a NAT).
		if err := n.setupNAT(ctx); err != nil {
			n.tr.Close()
			db.Close()
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	if err := n.startCells(); err != nil {
		n.closeCells()
		n.tr.Close()
		db.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	if cfg.MonitorListen != "" {
		n.monSrv, err = n.mon.Serve(cfg.MonitorListen)
		if err != nil {
			n.closeCells()
			n.tr.Close()
			db.Close()
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	ctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, p := range cfg.Peers {
		n.wg.Add(1)
		go n.keepPeer(ctx, p)
	}
	if n.nat != nil {
		n.wg.Add(1)
		go n.payRelayLoop(ctx)
	}
	n.log.Info("node started", "contact", n.Contact().String(), "monitor", n.MonitorURL(), "network", cfg.Network, "data_dir", cfg.DataDir)
	return n, nil
}

// natSetupTimeout bounds how long start waits for reachability detection
// and a relay: a node whose peers are all away still starts, unreachable
// but working, and says so in its log.
const natSetupTimeout = 15 * time.Second

// setupNAT learns this node's outside address from its peers, finds out
// whether it can be dialed, and if not reaches the network through a relay.
func (n *Node) setupNAT(ctx context.Context) error {
	rc := n.cfg.RelayLimits
	rc.Transport, rc.Key, rc.Network, rc.Verifier, rc.Now, rc.Logger = n.tr, n.key, n.cfg.Network, n.verifier, n.cfg.Now, n.log
	rc.Serve = n.cfg.Relay
	rc.Registerer = n.mon.Registry()
	svc, err := relay.New(rc)
	if err != nil {
		return fmt.Errorf("NAT detection: %w", err)
	}
	n.nat = svc
	peers := make([]cell.Target, 0, len(n.cfg.Peers))
	for _, c := range n.cfg.Peers {
		peers = append(peers, cell.Target{Key: c.Key, Addr: c.Addr})
	}
	sctx, cancel := context.WithTimeout(ctx, natSetupTimeout)
	res, addr, err := svc.Setup(sctx, peers, peers)
	cancel()
	if err != nil {
		n.log.Warn("reachability unknown; running without a relay", "err", err)
	} else {
		n.log.Info("reachability", "reach", res.Reach, "observed", res.Observed, "address", addr)
	}
	n.mon.Provide("nat", func() any { return svc.Status() })
	return nil
}

// Contact is how other nodes reach this one.
func (n *Node) Contact() Contact {
	return Contact{Key: n.key.Public().(ed25519.PublicKey), Addr: n.tr.Addr().String()}
}

// PublicKey is the node's key.
func (n *Node) PublicKey() ed25519.PublicKey { return n.key.Public().(ed25519.PublicKey) }

// MonitorURL is the monitor's base URL, or "" when it is disabled.
func (n *Node) MonitorURL() string {
	if n.monSrv == nil {
		return ""
	}
	return "http://" + n.monSrv.Addr().String()
}

// Monitor gives the node's parts a place to publish status and metrics.
func (n *Node) Monitor() *monitor.Monitor { return n.mon }

// Close stops the node: peers loops, transport (gracefully), monitor and
// database, in that order so nothing writes to a closed store.
func (n *Node) Close() error {
	var errs []error
	n.closed.Do(func() {
		n.cancel()
		n.wg.Wait()
		n.closeCells()
		n.clock.Close()
		if n.nat != nil {
			n.nat.Close()
		}
		if err := n.tr.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close transport: %w", err))
		}
		if n.monSrv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := n.monSrv.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("close monitor: %w", err))
			}
			cancel()
		}
		if err := n.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close database: %w", err))
		}
		n.log.Info("node stopped")
	})
	return errors.Join(errs...)
}

func (n *Node) closeCells() {
	if n.mail != nil {
		n.mail.Close()
	}
	if n.files != nil {
		n.files.Close()
	}
	if n.shard != nil {
		n.shard.Close()
	}
	if n.registry != nil {
		n.registry.Close()
	}
	for _, rt := range n.cells {
		rt.Close()
	}
	if n.rewarder != nil {
		n.rewarder.Close()
	}
	if n.ledger != nil {
		n.ledger.Close()
	}
}

// Peers returns the known peers sorted by key, for status and tests.
func (n *Node) Peers() []peerState {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]peerState, 0, len(n.peers))
	for _, p := range n.peers {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (n *Node) registerMetrics() {
	n.metrics.hellos = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "borgios_peer_hellos_total", Help: "Peer greetings by direction and result.",
	}, []string{"direction", "result"})
	n.metrics.peers = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "borgios_peers_connected", Help: "Peers whose last greeting succeeded.",
	}, func() float64 {
		c := 0
		for _, p := range n.Peers() {
			if p.State == "connected" {
				c++
			}
		}
		return float64(c)
	})
	reg := n.mon.Registry()
	reg.MustRegister(n.metrics.hellos, n.metrics.peers)
	n.mon.Provide("node", func() any {
		return map[string]any{
			"key":        hex.EncodeToString(n.PublicKey()),
			"contact":    n.Contact().String(),
			"network":    n.cfg.Network,
			"listen":     n.tr.Addr().String(),
			"uptime_s":   int64(time.Since(n.started).Seconds()),
			"data_dir":   n.cfg.DataDir,
			"cells":      n.cfg.Cells,
			"network_ms": n.cfg.Now(),
		}
	})
	n.mon.Provide("peers", func() any { return n.Peers() })
}
